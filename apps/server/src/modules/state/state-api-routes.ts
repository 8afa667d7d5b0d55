import type { FastifyInstance, FastifyRequest } from "fastify";
import { UnauthorizedError, ValidationError } from "../../platform/errors.ts";
import type { AuthService, Session } from "../auth/index.ts";
import type { StateOperations } from "./state-operations.ts";

type StackReq = FastifyRequest<{
  Params: { stackId: string };
  Querystring: { limit?: string };
  Body: unknown;
}>;
// Tokens are JWTs, longer than Fastify's maxParamLength (100), so the routes take them
// as a wildcard.
type TokenReq = FastifyRequest<{ Params: { "*": string } }>;

/** A string field of a JSON body, or undefined; anything else is a 400. */
function field(body: unknown, name: string, required: true): string;
function field(
  body: unknown,
  name: string,
  required?: false,
): string | undefined;
function field(
  body: unknown,
  name: string,
  required = false,
): string | undefined {
  const value =
    typeof body === "object" && body !== null
      ? (body as Record<string, unknown>)[name]
      : undefined;
  if (value === undefined || value === null) {
    if (required)
      throw new ValidationError(`the JSON body needs a string "${name}"`);
    return undefined;
  }
  if (typeof value !== "string" || value === "")
    throw new ValidationError(`"${name}" must be a non-empty string`);
  return value;
}

/**
 * Stackyard's REST routes for state operations (the web UI and the `stackyard state`
 * commands use them; spacectl and the Terraform provider use the GraphQL mutations):
 *
 * - `GET  /api/v1/stacks/:stackId/state/versions[?limit=]` → `{versions, lock}`
 * - `POST /api/v1/stacks/:stackId/state/download-url` `{versionId?}` → `{url, versionId, expiresAt}`
 * - `POST /api/v1/stacks/:stackId/state/import` `{objectId}` → `{version}`
 * - `POST /api/v1/stacks/:stackId/state/rollback` `{versionId}` → `{version}`
 * - `POST /api/v1/stacks/:stackId/state/force-unlock` → `{unlocked, lock}`
 *
 * all with the session bearer token GraphQL takes, and the pre-signed transfer URLs,
 * which take no bearer:
 *
 * - `GET /state-download/:token` → the state file (application/json)
 * - `PUT /uploads/:token` (any content type, up to the upload limit) → `{objectId, size}`
 *
 * Errors go through the shared error handler (AppError → status + `{error, message}`).
 */
export async function registerStateApiRoutes(
  app: FastifyInstance,
  deps: {
    operations: StateOperations;
    sessions: Pick<AuthService, "authenticate">;
  },
): Promise<void> {
  const { operations: ops, sessions } = deps;

  async function sessionOf(req: FastifyRequest): Promise<Session> {
    const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!token)
      throw new UnauthorizedError(
        "this needs a session: Authorization: Bearer <token> (exchange an API key with apiKeyUser)",
      );
    return sessions.authenticate(token.trim());
  }

  const base = "/api/v1/stacks/:stackId/state";

  app.get(`${base}/versions`, async (req: StackReq) => {
    const session = await sessionOf(req);
    const limit =
      req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (
      limit !== undefined &&
      (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    )
      throw new ValidationError("limit must be an integer from 1 to 1000");
    return ops.listVersions(session, req.params.stackId, { limit });
  });

  app.post(`${base}/download-url`, async (req: StackReq) => {
    const session = await sessionOf(req);
    return ops.downloadUrl(
      session,
      req.params.stackId,
      field(req.body, "versionId"),
    );
  });

  app.post(`${base}/import`, async (req: StackReq) => {
    const session = await sessionOf(req);
    return {
      version: await ops.importState(
        session,
        req.params.stackId,
        field(req.body, "objectId", true),
      ),
    };
  });

  app.post(`${base}/rollback`, async (req: StackReq) => {
    const session = await sessionOf(req);
    return {
      version: await ops.rollback(
        session,
        req.params.stackId,
        field(req.body, "versionId", true),
      ),
    };
  });

  app.post(`${base}/force-unlock`, async (req: StackReq) => {
    const session = await sessionOf(req);
    return ops.forceUnlock(session, req.params.stackId);
  });

  app.get("/state-download/*", async (req: TokenReq, reply) => {
    const { stackId, versionId, content } = await ops.serveDownload(
      req.params["*"],
    );
    return reply
      .type("application/json")
      .header("cache-control", "no-store")
      .header(
        "content-disposition",
        `attachment; filename="${stackId}-${versionId}.tfstate"`,
      )
      .send(content);
  });

  // The upload body stays a raw Buffer whatever its content type (the Terraform provider
  // sends application/json); the token and Content-Length are checked before it is read.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: ops.uploadLimitBytes },
      (_req, body, done) => done(null, body),
    );
    scope.route({
      method: "PUT",
      url: "/uploads/*",
      bodyLimit: ops.uploadLimitBytes,
      onRequest: async (req: TokenReq) => {
        const length = req.headers["content-length"];
        await ops.verifyUpload(
          req.params["*"],
          length === undefined ? null : Number(length),
        );
      },
      handler: async (req: TokenReq) =>
        ops.acceptUpload(
          req.params["*"],
          Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        ),
    });
  });
}
