import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExecutionKit,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";
import { createAuthService, createTokenSigner } from "../auth/index.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../../platform/http/http-server.ts";
import { registerRunEventsRoute } from "./run-events-route.ts";
import { insertLogChunk } from "./run-log-repo.ts";

let kit: ExecutionKit;
let http: FastifyInstance;
let base: string;
let auth: ReturnType<typeof createAuthService>;
/**
 * Per run: what to commit right after the route read the run and before it reads the
 * history, i.e. a worker report landing between the route's two reads.
 */
const beforeHistory = new Map<string, () => Promise<void>>();

beforeAll(async () => {
  kit = await createExecutionKit();
  const signer = createTokenSigner({
    privateKey: kit.privateKey,
    issuer: "http://stackyard.test",
    audience: "http://stackyard.test",
  });
  auth = createAuthService({
    db: kit.t.db,
    signer,
    admin: { username: null, password: null },
  });
  http = createHttpServer({
    log: silentLog,
    readiness: [],
    metrics: createMetricsRegistry({ service: "test" }),
  });
  const service = kit.runs.service;
  await registerRunEventsRoute(http, {
    runs: {
      getRun: (session, ref) => service.getRun(session, ref),
      hasLeftState: (run, state, version) =>
        service.hasLeftState(run, state, version),
      async history(run) {
        const between = beforeHistory.get(run.id);
        beforeHistory.delete(run.id);
        await between?.();
        return service.history(run);
      },
    },
    logs: kit.logs,
    sessions: auth,
    pollMs: 50,
  });
  await http.listen({ host: "127.0.0.1", port: 0 });
  const address = http.server.address();
  base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
}, 60_000);

afterAll(async () => {
  await http?.close();
  await kit?.destroy();
});

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads SSE events from a response body; `next()` waits at most `timeoutMs`. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const queue: SseEvent[] = [];
  let done = false;
  async function fill(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (queue.length === 0 && !done) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE event within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no SSE event within ${timeoutMs} ms`)),
            left,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (r.done) done = true;
      else buffer += decoder.decode(r.value, { stream: true });
      let i: number;
      while ((i = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) queue.push({ event, data: JSON.parse(data) as unknown });
      }
    }
  }
  return {
    async next(timeoutMs = 5000): Promise<SseEvent | null> {
      await fill(timeoutMs);
      return queue.shift() ?? null;
    },
    cancel: () => reader.cancel().catch(() => undefined),
  };
}

async function newRun(spaceId = "root") {
  const stack = await buildStack(kit.t.db, { space_id: spaceId });
  const run = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
  return { stack, run };
}

const url = (stackId: string, runId: string) =>
  `${base}/api/v1/stacks/${stackId}/runs/${runId}/events`;

/** Every event up to and including `end` (bounded in count; each wait bounded in time). */
async function untilEnd(
  sse: ReturnType<typeof sseReader>,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for (let i = 0; i < 200; i++) {
    const e = await sse.next();
    if (!e) break;
    events.push(e);
    if (e.event === "end") break;
  }
  return events;
}

/** Reads events until `match` accepts one; returns all read (bounded like untilEnd). */
async function until(
  sse: ReturnType<typeof sseReader>,
  match: (e: SseEvent) => boolean,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for (let i = 0; i < 200; i++) {
    const e = await sse.next();
    if (!e)
      throw new Error(`the stream closed after ${JSON.stringify(events)}`);
    events.push(e);
    if (match(e)) return events;
  }
  throw new Error(`no matching event in ${JSON.stringify(events)}`);
}

const logsOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === "log")
    .map((e) => {
      const d = e.data as {
        state: string;
        stateVersion: number;
        message: string;
      };
      return `${d.state}@${d.stateVersion}: ${d.message.trim()}`;
    });

const chunk = (
  runId: string,
  state: "INITIALIZING" | "PLANNING" | "APPLYING",
  stateVersion: number,
  seq: number,
  text: string,
) =>
  insertLogChunk(kit.t.db, {
    runId,
    state,
    stateVersion,
    seq,
    text,
    now: new Date(),
  });

describe("GET /api/v1/stacks/:stackId/runs/:runId/events", () => {
  it("streams transitions in order, live logs, then end", async () => {
    const { stack, run } = await newRun();
    const res = await fetch(url(stack.id, run.id), {
      headers: { authorization: `Bearer ${kit.adminToken}` },
      signal: AbortSignal.timeout(20_000),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const sse = sseReader(res);
    const first = await sse.next();
    expect(first?.event).toBe("transition");
    expect((first?.data as { state: string }).state).toBe("QUEUED");

    const planning = await kit.walk(run.id, [
      "READY",
      "PREPARING",
      "INITIALIZING",
      "PLANNING",
    ]);
    const states: string[] = [];
    while (states.at(-1) !== "PLANNING") {
      const e = await sse.next();
      if (e?.event === "transition")
        states.push((e.data as { state: string }).state);
    }
    expect(states).toEqual(["READY", "PREPARING", "INITIALIZING", "PLANNING"]);

    await insertLogChunk(kit.t.db, {
      runId: run.id,
      state: "PLANNING",
      stateVersion: planning.stateVersion,
      seq: 0,
      text: "Plan: 1 to add\n",
      now: new Date(),
    });
    const log = await sse.next();
    expect(log).toEqual({
      event: "log",
      data: {
        state: "PLANNING",
        stateVersion: planning.stateVersion,
        message: "Plan: 1 to add\n",
      },
    });

    await kit.walk(run.id, ["FAILED"]);
    const terminal = await sse.next();
    expect(terminal?.event).toBe("transition");
    expect(terminal?.data).toMatchObject({ state: "FAILED", terminal: true });
    expect((await sse.next())?.event).toBe("end");
    expect(await sse.next()).toBeNull(); // the stream closed
  }, 30_000);

  // The worker's reports and the route's polling interleave freely; each case commits a
  // report between the route's read of the run and its read of the history (the window
  // a 500 ms poll leaves open), and every chunk must still arrive before `end`.
  it("follows a state entered between its run and history reads until the run leaves it", async () => {
    const { stack, run } = await newRun();
    const res = await fetch(url(stack.id, run.id), {
      headers: { authorization: `Bearer ${kit.adminToken}` },
      signal: AbortSignal.timeout(20_000),
    });
    const sse = sseReader(res);
    const planning = await kit.walk(run.id, [
      "READY",
      "PREPARING",
      "INITIALIZING",
      "PLANNING",
    ]);
    await chunk(run.id, "PLANNING", planning.stateVersion, 0, "Plan: 1 to add");
    const seen = await until(sse, (e) => e.event === "log");

    // Autodeploy: PLANNING -> APPLYING and the first apply chunk land after the route
    // read the run (still PLANNING) and before it reads the history.
    const applyVersion = planning.stateVersion + 1;
    beforeHistory.set(run.id, async () => {
      await kit.walk(run.id, ["APPLYING"]);
      await chunk(run.id, "APPLYING", applyVersion, 0, "Applying...");
    });
    seen.push(
      ...(await until(
        sse,
        (e) =>
          e.event === "log" &&
          (e.data as { stateVersion: number }).stateVersion === applyVersion,
      )),
    );
    // The rest of the apply, then the result: stored in this order, as the launcher
    // drains its reports before it posts the result.
    await chunk(
      run.id,
      "APPLYING",
      applyVersion,
      1,
      "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.",
    );
    await kit.walk(run.id, ["FINISHED"]);
    seen.push(...(await untilEnd(sse)));

    expect(seen.at(-1)?.event).toBe("end");
    expect(logsOf(seen)).toEqual([
      `PLANNING@${planning.stateVersion}: Plan: 1 to add`,
      `APPLYING@${applyVersion}: Applying...`,
      `APPLYING@${applyVersion}: Apply complete! Resources: 1 added, 0 changed, 0 destroyed.`,
    ]);
  }, 30_000);

  it("delivers late, out-of-order and restarted-seq chunks before end", async () => {
    const { stack, run } = await newRun();
    const res = await fetch(url(stack.id, run.id), {
      headers: { authorization: `Bearer ${kit.adminToken}` },
      signal: AbortSignal.timeout(20_000),
    });
    const sse = sseReader(res);
    // Plan phase (first hand-over): INITIALIZING and PLANNING, seq from 0 each.
    const init1 = await kit.walk(run.id, [
      "READY",
      "PREPARING",
      "INITIALIZING",
    ]);
    await chunk(run.id, "INITIALIZING", init1.stateVersion, 0, "init plan");
    const plan = await kit.walk(run.id, ["PLANNING"]);
    // seq 1 overtakes seq 0 while the state is live: it must wait for seq 0.
    await chunk(run.id, "PLANNING", plan.stateVersion, 1, "plan second");
    const seen = await until(sse, (e) => e.event === "log");
    await chunk(run.id, "PLANNING", plan.stateVersion, 0, "plan first");
    await kit.walk(run.id, ["UNCONFIRMED", "CONFIRMED", "PREPARING_APPLY"]);

    // Apply phase (a new hand-over): INITIALIZING again, seq restarting at 0, entered
    // between the route's two reads; then APPLYING and the terminal state likewise.
    const init2Version = plan.stateVersion + 4;
    beforeHistory.set(run.id, async () => {
      await kit.walk(run.id, ["INITIALIZING"]);
      await chunk(run.id, "INITIALIZING", init2Version, 0, "init apply");
    });
    seen.push(
      ...(await until(
        sse,
        (e) =>
          e.event === "transition" &&
          (e.data as { stateVersion: number }).stateVersion === init2Version,
      )),
    );
    await chunk(run.id, "INITIALIZING", init2Version, 1, "init apply done");
    const applyVersion = init2Version + 1;
    beforeHistory.set(run.id, async () => {
      await kit.walk(run.id, ["APPLYING"]);
      await chunk(run.id, "APPLYING", applyVersion, 0, "Applying...");
    });
    seen.push(
      ...(await until(
        sse,
        (e) =>
          e.event === "transition" &&
          (e.data as { stateVersion: number }).stateVersion === applyVersion,
      )),
    );
    await chunk(run.id, "APPLYING", applyVersion, 1, "Apply complete!");
    beforeHistory.set(run.id, async () => {
      await chunk(run.id, "APPLYING", applyVersion, 2, "Outputs:");
      await kit.walk(run.id, ["FINISHED"]);
    });
    seen.push(...(await untilEnd(sse)));
    const expected = [
      `INITIALIZING@${init1.stateVersion}: init plan`,
      `PLANNING@${plan.stateVersion}: plan first`,
      `PLANNING@${plan.stateVersion}: plan second`,
      `INITIALIZING@${init2Version}: init apply`,
      `INITIALIZING@${init2Version}: init apply done`,
      `APPLYING@${applyVersion}: Applying...`,
      `APPLYING@${applyVersion}: Apply complete!`,
      `APPLYING@${applyVersion}: Outputs:`,
    ];
    expect(seen.at(-1)?.event).toBe("end");
    expect(logsOf(seen)).toEqual(expected);

    // A fresh stream of the ended run replays the same logs, in order.
    const replay = await fetch(url(stack.id, run.id), {
      headers: { authorization: `Bearer ${kit.adminToken}` },
      signal: AbortSignal.timeout(20_000),
    });
    const all = await untilEnd(sseReader(replay));
    expect(all.at(-1)?.event).toBe("end");
    expect(logsOf(all)).toEqual(expected);
  }, 30_000);

  it("takes the session from the cookie POST /api/v1/run-events/session sets, never from the URL", async () => {
    const { stack, run } = await newRun();
    const set = await fetch(`${base}/api/v1/run-events/session`, {
      method: "POST",
      headers: { authorization: `Bearer ${kit.adminToken}` },
    });
    expect(set.status).toBe(204);
    const cookie = set.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(
      /^stackyard_run_events=[\w.-]+; Path=\/api\/v1\/stacks\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
    );
    const res = await fetch(url(stack.id, run.id), {
      headers: { cookie: cookie.split(";")[0] ?? "" },
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    const sse = sseReader(res);
    expect((await sse.next())?.event).toBe("transition");
    await sse.cancel();

    // A token in the query string is not a credential any more.
    const inUrl = await fetch(
      `${url(stack.id, run.id)}?token=${encodeURIComponent(kit.adminToken)}`,
      { signal: AbortSignal.timeout(5000) },
    );
    expect(inUrl.status).toBe(401);
    // Setting the cookie needs a valid session.
    const bad = await fetch(`${base}/api/v1/run-events/session`, {
      method: "POST",
      headers: { authorization: "Bearer nope" },
    });
    expect(bad.status).toBe(401);
  }, 15_000);

  it("is 401 without a token", async () => {
    const { stack, run } = await newRun();
    const res = await fetch(url(stack.id, run.id), {
      signal: AbortSignal.timeout(5000),
    });
    expect(res.status).toBe(401);
  });

  it("hides the run from a key of another space", async () => {
    await kit.t.db
      .insertInto("spaces")
      .values([
        { id: "ev-team", name: "ev-team", parent_space_id: "root" },
        { id: "ev-other", name: "ev-other", parent_space_id: "root" },
      ])
      .execute();
    const { stack, run } = await newRun("ev-team");
    const key = await auth.createApiKey({
      name: "ev-other-reader",
      admin: false,
      spaceId: "ev-other",
    });
    const { token } = await auth.exchangeApiKey(key.id, key.secret);
    const res = await fetch(url(stack.id, run.id), {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    expect(res.status).toBe(404);
    await res.body?.cancel();
  });
});
