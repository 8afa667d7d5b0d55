import {
  parseExact,
  PLAN_BODY_LIMIT_BYTES,
  planDocumentUploadSchema,
  runEventSchema,
  runLogChunkSchema,
  WORKER_API_PREFIX,
} from "@stackyard/protocol";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { RunPlanDocuments } from "./run-plan.ts";
import type { RunReports } from "./run-reports.ts";

/** A log chunk is at most 256 KiB of text; JSON escaping can double it. */
const JSON_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
/** A sealed planned workspace (tar.gz with providers, base64 and sealed). */
export const WORKSPACE_BODY_LIMIT_BYTES = 1024 * 1024 * 1024;

type Req = FastifyRequest<{ Params: { runId: string } }>;
type Claims = Awaited<ReturnType<RunReports["authorize"]>>;

function bearerOf(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1] ?? null;
}

/** 400 with zod's issue list; never a 500 for bad input. */
function parseBody<T>(
  schema: z.ZodType<T>,
  body: unknown,
  reply: FastifyReply,
): T | null {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  void reply.status(400).send({
    error: "BAD_USER_INPUT",
    message: `invalid request body: ${parsed.error.issues
      .map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`)
      .join("; ")}`,
    issues: parsed.error.issues.map((i) => ({
      path: i.path.map(String),
      message: i.message,
    })),
  });
  return null;
}

/**
 * The worker API (`WORKER_API_PREFIX`, protocol run-messages.ts): what a worker reports
 * about the run it holds, authenticated by the run token from `run.assign`.
 * - POST /:runId/logs    RunLogChunk  → 200 { accepted, stored, state, reason? }
 * - POST /:runId/events  RunEvent     → 200 { accepted, state, reason? }
 * - PUT  /:runId/workspace (text)     → 204
 * - PUT  /:runId/plan PlanDocumentUpload → 200 { stored, reason? } (when `plans` is given)
 * - GET  /:runId/workspace            → 200 text, 404 when none was stored
 * Errors: 401 bad or missing token, 403 token of another run or worker, 400 invalid body
 * (with `issues`), 409 a report the run's state machine refuses, 413 a body over the
 * route's limit.
 *
 * The run token is checked in `onRequest`, before a byte of the body is read: an
 * unauthenticated caller can make the server read nothing, whatever it declares. The
 * workspace body is read as a Buffer (never one string: V8 caps strings at ~512 MiB),
 * capped at WORKSPACE_BODY_LIMIT_BYTES.
 */
export async function registerRunWorkerRoutes(
  app: FastifyInstance,
  reports: Pick<
    RunReports,
    "authorize" | "appendLog" | "handleEvent" | "putWorkspace" | "getWorkspace"
  >,
  plans?: Pick<RunPlanDocuments, "storePlanDocument">,
): Promise<void> {
  await app.register(
    async (scope) => {
      // Plan documents carry the plan's attribute values, which reach plan policies:
      // their numbers are kept as written (19-digit integers, decimals such as 101.00).
      scope.removeContentTypeParser("application/json");
      scope.addContentTypeParser(
        "application/json",
        { parseAs: "string", bodyLimit: PLAN_BODY_LIMIT_BYTES },
        (_req, body, done) => {
          try {
            done(null, parseExact(String(body)));
          } catch (err) {
            done(
              Object.assign(
                new Error(`invalid JSON body: ${(err as Error).message}`),
                { statusCode: 400 },
              ),
              undefined,
            );
          }
        },
      );
      scope.addContentTypeParser(
        ["text/plain", "application/octet-stream"],
        { parseAs: "buffer", bodyLimit: WORKSPACE_BODY_LIMIT_BYTES },
        (_req, body, done) => done(null, body),
      );

      const claimsByRequest = new WeakMap<FastifyRequest, Claims>();
      scope.addHook("onRequest", async (req: Req) => {
        claimsByRequest.set(
          req,
          await reports.authorize(bearerOf(req), req.params.runId),
        );
      });
      const claimsOf = (req: FastifyRequest): Claims => {
        const claims = claimsByRequest.get(req);
        if (!claims) throw new Error("worker request was not authorized");
        return claims;
      };

      scope.post<{ Params: { runId: string } }>(
        "/:runId/logs",
        { bodyLimit: JSON_BODY_LIMIT_BYTES },
        async (req, reply) => {
          const chunk = parseBody(runLogChunkSchema, req.body, reply);
          if (!chunk) return reply;
          return reports.appendLog(claimsOf(req), chunk);
        },
      );

      scope.post<{ Params: { runId: string } }>(
        "/:runId/events",
        { bodyLimit: JSON_BODY_LIMIT_BYTES },
        async (req, reply) => {
          const event = parseBody(runEventSchema, req.body, reply);
          if (!event) return reply;
          return reports.handleEvent(claimsOf(req), event);
        },
      );

      if (plans)
        scope.put<{ Params: { runId: string } }>(
          "/:runId/plan",
          { bodyLimit: PLAN_BODY_LIMIT_BYTES },
          async (req, reply) => {
            const upload = parseBody(planDocumentUploadSchema, req.body, reply);
            if (!upload) return reply;
            return plans.storePlanDocument(claimsOf(req).record, upload);
          },
        );

      scope.put<{ Params: { runId: string } }>(
        "/:runId/workspace",
        { bodyLimit: WORKSPACE_BODY_LIMIT_BYTES },
        async (req, reply) => {
          if (!Buffer.isBuffer(req.body) || req.body.length === 0)
            return reply.status(400).send({
              error: "BAD_USER_INPUT",
              message:
                "the workspace body must be the sealed box as text (Content-Type: text/plain)",
            });
          await reports.putWorkspace(claimsOf(req), req.body);
          return reply.status(204).send();
        },
      );

      scope.get<{ Params: { runId: string } }>(
        "/:runId/workspace",
        async (req, reply) => {
          const sealed = await reports.getWorkspace(claimsOf(req));
          return reply.header("content-type", "text/plain").send(sealed);
        },
      );
    },
    { prefix: WORKER_API_PREFIX },
  );
}
