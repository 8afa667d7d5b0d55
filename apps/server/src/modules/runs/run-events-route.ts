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
  Querystring: { token?: string };
}>;

export interface RunEventsDeps {
  runs: Pick<RunService, "getRun" | "history" | "hasLeftState">;
  logs?: Pick<RunLogs, "read">;
  sessions: Pick<AuthService, "authenticate">;
  pollMs?: number;
  keepaliveMs?: number;
  maxMs?: number;
}

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * `GET /api/v1/stacks/:stackId/runs/:runId/events`: live updates of one run as
 * Server-Sent Events, for the web UI.
 *
 * Auth: `Authorization: Bearer <session JWT>` or `?token=<session JWT>`. EventSource
 * cannot set headers, so the browser passes the token in the URL; it is the same
 * short-lived session JWT GraphQL takes (never an API key secret), so a URL that ends up
 * in a log expires with the session. Read access is checked exactly as GraphQL's
 * `stack(id).run(id)` does (`RunService.getRun`, re-checked on every read): a run the
 * caller cannot see is a 404.
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

  async function sessionOf(req: EventsReq): Promise<Session> {
    const bearer = /^Bearer\s+(.+)$/i.exec(
      req.headers.authorization ?? "",
    )?.[1];
    const token = bearer?.trim() || req.query.token;
    if (!token)
      throw new UnauthorizedError(
        "this needs a session: Authorization: Bearer <token> or ?token=<session token>",
      );
    return deps.sessions.authenticate(token);
  }

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
