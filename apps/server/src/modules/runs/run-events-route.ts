import type { FastifyInstance, FastifyRequest } from "fastify";
import { NotFoundError, UnauthorizedError } from "../../platform/errors.ts";
import type { AuthService, Session } from "../auth/index.ts";
import { isTerminal } from "./run.ts";
import { LOG_STATES, type RunLogs } from "./run-logs.ts";
import type { RunRecord, RunTransition } from "./run-repo.ts";
import type { RunService } from "./run-service.ts";

/** How often the server re-reads the run (one query set per viewer, not per browser poll). */
export const RUN_EVENTS_POLL_MS = 500;
/** A `: keepalive` comment this often, so proxies keep the connection open. */
export const RUN_EVENTS_KEEPALIVE_MS = 15_000;
/** Every connection ends after this long; EventSource reconnects if the viewer is still there. */
export const RUN_EVENTS_MAX_MS = 2 * 60 * 60 * 1000;

type EventsReq = FastifyRequest<{
  Params: { stackId: string; runId: string };
}>;

/** The cookie that carries the session to EventSource, which cannot set headers. */
export const RUN_EVENTS_COOKIE = "stackyard_run_events";
/** Where the cookie is sent: the events routes only, never GraphQL or the UI. */
const RUN_EVENTS_COOKIE_PATH = "/api/v1/stacks/";
/** `POST` here with the session as a Bearer token sets the cookie (204). */
export const RUN_EVENTS_SESSION_PATH = "/api/v1/run-events/session";

export interface RunEventsDeps {
  runs: Pick<RunService, "getRun" | "history" | "hasLeftState">;
  logs?: Pick<RunLogs, "read">;
  sessions: Pick<AuthService, "authenticate">;
  pollMs?: number;
  keepaliveMs?: number;
  maxMs?: number;
}

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

function cookieOf(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name)
      return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** `exp` of a JWT already verified by `authenticate`; 0 when it has none. */
function expiryOf(jwt: string): number {
  try {
    const payload = JSON.parse(
      Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8"),
    ) as { exp?: unknown };
    return typeof payload.exp === "number" ? payload.exp : 0;
  } catch {
    return 0;
  }
}

/**
 * `GET /api/v1/stacks/:stackId/runs/:runId/events`: live updates of one run as
 * Server-Sent Events, for the web UI.
 *
 * Auth: `Authorization: Bearer <session JWT>`, or the RUN_EVENTS_COOKIE cookie.
 * EventSource cannot set headers, so the browser first POSTs to RUN_EVENTS_SESSION_PATH
 * with its Bearer session, which sets that cookie (HttpOnly, SameSite=Strict, scoped to
 * the stacks' REST paths, expiring with the session): the token never appears in a URL,
 * where proxies and access logs would keep it. Read access is checked exactly as
 * GraphQL's `stack(id).run(id)` does (`RunService.getRun`, re-checked on every read): a
 * run the caller cannot see is a 404.
 *
 * Events:
 * - `transition`: JSON of one history entry (`{hasLogs, state, stateVersion, note, username,
 *   timestamp, terminal}`), oldest first, each once;
 * - `log`: JSON `{state, stateVersion, message}`, one per stored log chunk, in order;
 * - `end` once a terminal transition was sent and every log was drained, then the
 *   stream closes; a `: keepalive` comment every 15 s.
 *
 * Implementation: the server re-reads the run, its history and its logs every ~500 ms
 * (the same reads as the `history` and `logs` resolvers). Polling server-side keeps one
 * query set per viewer instead of one per browser poll; Postgres LISTEN/NOTIFY could
 * replace the loop later without changing the wire format. The loop stops when the
 * client disconnects and each connection ends after at most 2 hours.
 */
export async function registerRunEventsRoute(
  app: FastifyInstance,
  deps: RunEventsDeps,
): Promise<void> {
  const pollMs = deps.pollMs ?? RUN_EVENTS_POLL_MS;
  const keepaliveMs = deps.keepaliveMs ?? RUN_EVENTS_KEEPALIVE_MS;
  const maxMs = deps.maxMs ?? RUN_EVENTS_MAX_MS;

  const bearerOf = (req: FastifyRequest) =>
    /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1]?.trim();

  async function sessionOf(req: EventsReq): Promise<Session> {
    const token = bearerOf(req) || cookieOf(req, RUN_EVENTS_COOKIE);
    if (!token)
      throw new UnauthorizedError(
        `this needs a session: Authorization: Bearer <token>, or the cookie POST ${RUN_EVENTS_SESSION_PATH} sets`,
      );
    return deps.sessions.authenticate(token);
  }

  app.post(RUN_EVENTS_SESSION_PATH, async (req, reply) => {
    const token = bearerOf(req);
    if (!token)
      throw new UnauthorizedError(
        "this needs a session: Authorization: Bearer <token>",
      );
    await deps.sessions.authenticate(token);
    const cookie = [
      `${RUN_EVENTS_COOKIE}=${token}`,
      `Path=${RUN_EVENTS_COOKIE_PATH}`,
      `Max-Age=${Math.max(0, expiryOf(token) - Math.floor(Date.now() / 1000))}`,
      "HttpOnly",
      "SameSite=Strict",
      ...(req.protocol === "https" ? ["Secure"] : []),
    ].join("; ");
    return reply.header("set-cookie", cookie).code(204).send();
  });

  app.get(
    "/api/v1/stacks/:stackId/runs/:runId/events",
    async (req: EventsReq, reply) => {
      const session = await sessionOf(req);
      const ref = { stackId: req.params.stackId, runId: req.params.runId };
      const load = async (): Promise<RunRecord> => {
        const run = await deps.runs.getRun(session, ref);
        if (!run) throw new NotFoundError("run not found");
        return run;
      };
      let run = await load();

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      res.flushHeaders();

      let closed = false;
      req.raw.on("close", () => {
        closed = true;
      });
      res.on("close", () => {
        closed = true;
      });
      const send = (event: string, data: unknown) => {
        if (!closed)
          res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };

      let lastSent = -1;
      let terminalSent = false;
      // Log cursors of every log state version sent, until drained.
      const cursors = new Map<
        number,
        { state: RunTransition["state"]; token: string | null; done: boolean }
      >();
      const started = Date.now();
      let lastWrite = Date.now();

      const tick = async (): Promise<boolean> => {
        run = await load();
        const history = [...(await deps.runs.history(run))].reverse();
        for (const t of history) {
          if (t.stateVersion <= lastSent) continue;
          lastSent = t.stateVersion;
          send("transition", {
            hasLogs: LOG_STATES.has(t.state),
            state: t.state,
            stateVersion: t.stateVersion,
            note: t.note,
            username: t.actor,
            timestamp: unix(t.createdAt),
            terminal: isTerminal(t.state),
          });
          if (LOG_STATES.has(t.state))
            cursors.set(t.stateVersion, {
              state: t.state,
              token: null,
              done: !deps.logs,
            });
          if (isTerminal(t.state)) terminalSent = true;
          lastWrite = Date.now();
        }
        if (deps.logs) {
          for (const [stateVersion, c] of cursors) {
            if (c.done) continue;
            for (let page = 0; page < 50 && !closed; page++) {
              // `run` was read before the history, so a version the history shows may be
              // newer than it; hasLeftState calls such a version live (it must: marking
              // it finished here would drop every later chunk of it). Once `run` is
              // terminal, every chunk is stored: the launcher drains its logs before it
              // posts the result that ends the run.
              const left = deps.runs.hasLeftState(run, c.state, stateVersion);
              const p = await deps.logs.read(run, {
                state: c.state,
                stateVersion,
                token: c.token,
                left,
              });
              for (const m of p.messages)
                send("log", {
                  state: c.state,
                  stateVersion,
                  message: m.message,
                });
              if (p.messages.length > 0) lastWrite = Date.now();
              c.token = p.nextToken || c.token;
              if (p.finished) c.done = true;
              if (!p.hasMore) break;
            }
          }
        }
        return terminalSent && [...cursors.values()].every((c) => c.done);
      };

      try {
        while (!closed && Date.now() - started < maxMs) {
          if (await tick()) {
            send("end", { state: run.state });
            break;
          }
          if (Date.now() - lastWrite >= keepaliveMs && !closed) {
            res.write(": keepalive\n\n");
            lastWrite = Date.now();
          }
          await new Promise((r) => setTimeout(r, pollMs));
        }
      } catch (err) {
        req.log.warn({ err }, "run events stream failed");
        send("error", { message: "the run could not be read" });
      } finally {
        if (!res.writableEnded) res.end();
      }
    },
  );
}
