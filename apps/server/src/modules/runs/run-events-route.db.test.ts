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
  await registerRunEventsRoute(http, {
    runs: kit.runs.service,
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

  it("takes the session token in the query string (EventSource)", async () => {
    const { stack, run } = await newRun();
    const res = await fetch(
      `${url(stack.id, run.id)}?token=${encodeURIComponent(kit.adminToken)}`,
      { signal: AbortSignal.timeout(10_000) },
    );
    expect(res.status).toBe(200);
    const sse = sseReader(res);
    expect((await sse.next())?.event).toBe("transition");
    await sse.cancel();
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
