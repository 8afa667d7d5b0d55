import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { createHash } from "node:crypto";
import { UnauthorizedError, ValidationError } from "../../platform/errors.ts";
import { createFailureLimiter } from "../../platform/http/failure-limiter.ts";
import type { AuthService } from "../auth/index.ts";
import { StateLockedError, StateLockMismatchError } from "./state-errors.ts";
import type { StateService } from "./state-service.ts";
import type { StateCaller } from "./state.ts";

/** Largest state tofu may upload (spacelift-reference §1.5: state import max 100 MB). */
export const STATE_BODY_LIMIT_BYTES = 100 * 1024 * 1024;
/** Failed basic-auth attempts per client address per minute before 429. */
export const STATE_AUTH_FAILURES_PER_MINUTE = 20;
/** The basic-auth username under which a user passes a session JWT as the password. */
export const USER_TOKEN_USERNAME = "token";

type StateRoutesService = Pick<
  StateService,
  | "authenticate"
  | "authenticateUser"
  | "readState"
  | "writeState"
  | "lock"
  | "unlock"
  | "deleteState"
>;

type Req = FastifyRequest<{
  Params: { stackId: string };
  Querystring: { ID?: string };
}>;

/**
 * The HTTP state backend of OpenTofu/Terraform (`backend "http"`), one per stack at
 * `/state/:stackId`: GET, POST (`?ID=` while locked), LOCK, UNLOCK with basic auth, and
 * DELETE with an admin session (Bearer token). Bodies stay raw Buffers so the stored
 * checksum is of exactly the bytes tofu sent.
 *
 * Basic auth takes three forms, told apart by the username:
 * - `run_...`: a run's state credentials (username = run id, password = the JWT issued
 *   with the run);
 * - `token`: a user's session JWT as the password (what `stackyard login` / the API key
 *   exchange returns);
 * - anything else: an API key, username = key id, password = key secret.
 * The last two are users outside the platform; they need external state access enabled
 * on the stack (state-service.ts `authenticateUser`).
 */
export async function registerStateRoutes(
  app: FastifyInstance,
  deps: {
    state: StateRoutesService;
    sessions: Pick<AuthService, "authenticate"> &
      Partial<Pick<AuthService, "authenticateApiKey">>;
  },
): Promise<void> {
  const { state, sessions } = deps;
  app.addHttpMethod("LOCK", { hasBody: true });
  app.addHttpMethod("UNLOCK", { hasBody: true });

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: STATE_BODY_LIMIT_BYTES },
      (_req, body, done) => done(null, body),
    );

    const callers = new WeakMap<FastifyRequest, StateCaller>();
    const callerOf = (req: FastifyRequest): StateCaller => {
      const caller = callers.get(req);
      if (!caller) throw new Error("state request was not authenticated");
      return caller;
    };
    const bodyOf = (req: FastifyRequest): Buffer =>
      Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);

    // Guessing keys or run credentials here is bounded per client address.
    const failures = createFailureLimiter({
      what: "state backend logins",
      maxFailures: STATE_AUTH_FAILURES_PER_MINUTE,
      windowMs: 60_000,
    });

    // Credentials are verified before the (possibly 100 MB) body is read.
    const authenticate = async (req: Req, reply: FastifyReply) => {
      failures.check(req.ip);
      try {
        await verifyCredentials(req, reply);
      } catch (err) {
        if (err instanceof UnauthorizedError) failures.fail(req.ip);
        throw err;
      }
    };
    const verifyCredentials = async (req: Req, reply: FastifyReply) => {
      const basic = parseBasicAuth(req.headers.authorization);
      if (!basic) {
        void reply.header("www-authenticate", 'Basic realm="stackyard-state"');
        throw new UnauthorizedError(
          "the state backend needs the run's state credentials (basic auth)",
        );
      }
      const { username, password } = basic;
      if (username.startsWith("run_")) {
        callers.set(
          req,
          await state.authenticate(req.params.stackId, username, password),
        );
        return;
      }
      let session;
      if (username === USER_TOKEN_USERNAME)
        session = await sessions.authenticate(password);
      else if (sessions.authenticateApiKey)
        // An API key logs in here, through login policies, as it would by apiKeyUser.
        session = await sessions.authenticateApiKey(username, password, {
          remoteIp: req.ip,
        });
      else
        throw new UnauthorizedError(
          "this server accepts only run credentials on the state backend",
        );
      callers.set(
        req,
        await state.authenticateUser(req.params.stackId, session),
      );
    };
    const route = {
      url: "/state/:stackId",
      bodyLimit: STATE_BODY_LIMIT_BYTES,
      onRequest: authenticate,
    };

    scope.route({
      ...route,
      method: "GET",
      handler: async (req: Req, reply) => {
        const content = await state.readState(callerOf(req));
        if (!content) return reply.code(204).send();
        return reply.type("application/json").send(content);
      },
    });

    scope.route({
      ...route,
      method: "POST",
      handler: async (req: Req, reply) => {
        const body = bodyOf(req);
        const md5 = req.headers["content-md5"];
        if (
          typeof md5 === "string" &&
          createHash("md5").update(body).digest("base64") !== md5
        )
          throw new ValidationError(
            "the body does not match its Content-MD5 header; it was corrupted in transit",
          );
        try {
          const { version, created } = await state.writeState(
            callerOf(req),
            body,
            req.query.ID ?? null,
          );
          return { version: version.id, serial: version.serial, created };
        } catch (err) {
          return sendLockError(reply, err);
        }
      },
    });

    scope.route({
      ...route,
      method: "LOCK",
      handler: async (req: Req, reply) => {
        try {
          await state.lock(callerOf(req), bodyOf(req));
          return reply.code(200).send();
        } catch (err) {
          return sendLockError(reply, err);
        }
      },
    });

    scope.route({
      ...route,
      method: "UNLOCK",
      handler: async (req: Req, reply) => {
        try {
          await state.unlock(callerOf(req), bodyOf(req));
          return reply.code(200).send();
        } catch (err) {
          return sendLockError(reply, err);
        }
      },
    });

    scope.route({
      url: "/state/:stackId",
      method: "DELETE",
      handler: async (req: Req, reply) => {
        const token = /^Bearer\s+(.+)$/i.exec(
          req.headers.authorization ?? "",
        )?.[1];
        if (!token)
          throw new UnauthorizedError(
            "deleting state needs an admin session (Authorization: Bearer <token>); run credentials cannot delete state",
          );
        const session = await sessions.authenticate(token);
        try {
          await state.deleteState(session, req.params.stackId);
          return reply.code(200).send();
        } catch (err) {
          return sendLockError(reply, err);
        }
      },
    });
  });
}

/**
 * Lock errors carry the holder's LockInfo as the body: tofu parses a 423's body to name
 * the holder. Other errors go to the shared error handler.
 */
function sendLockError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof StateLockedError)
    return reply.code(423).type("application/json").send(err.lockInfo);
  if (err instanceof StateLockMismatchError)
    return reply.code(409).type("application/json").send({
      error: err.code,
      message: err.message,
      lock: err.lockInfo,
    });
  throw err;
}

function parseBasicAuth(
  header: string | undefined,
): { username: string; password: string } | null {
  const encoded = /^Basic\s+(.+)$/i.exec(header ?? "")?.[1];
  if (!encoded) return null;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return {
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
  };
}
