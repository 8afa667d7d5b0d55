import type { FastifyInstance, FastifyRequest } from "fastify";
import type { LocalPreviews } from "./local-preview-service.ts";

type UploadReq = FastifyRequest<{
  Params: { id: string };
  Querystring: { token?: string };
}>;

/**
 * `PUT /local-workspaces/:id?token=…`: the upload URL of `uploadLocalWorkspace`. spacectl
 * sends the gzip tar with Content-Length, no Authorization and no Content-Type, and
 * counts 200 or 201 as success. The token and the declared length are checked in
 * `onRequest`, before a byte of the body is read; the body is then a raw Buffer whatever
 * its content type, capped at the upload limit (413 beyond it).
 * Errors: 401 bad or expired token, 404 unknown workspace, 409 already uploaded,
 * 400 not a gzip tar of the workspace, 413 too large.
 */
export async function registerLocalWorkspaceRoutes(
  app: FastifyInstance,
  previews: Pick<
    LocalPreviews,
    "verifyUpload" | "acceptUpload" | "maxUploadBytes"
  >,
): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: previews.maxUploadBytes },
      (_req, body, done) => done(null, body),
    );
    scope.route({
      method: "PUT",
      url: "/local-workspaces/:id",
      bodyLimit: previews.maxUploadBytes,
      onRequest: async (req: UploadReq) => {
        const length = req.headers["content-length"];
        await previews.verifyUpload(
          req.params.id,
          req.query.token,
          length === undefined ? null : Number(length),
        );
      },
      handler: async (req: UploadReq, reply) => {
        const stored = await previews.acceptUpload(
          req.params.id,
          req.query.token,
          Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        );
        return reply.status(200).send(stored);
      },
    });
  });
}
