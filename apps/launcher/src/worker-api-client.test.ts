import http from "node:http";
import type { AddressInfo } from "node:net";
import type { RunEvent, RunLogChunk } from "@stackyard/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { RunReporter } from "./run-reporter.ts";
import { WorkerApiClient, WorkerApiError } from "./worker-api-client.ts";

const log = pino({ level: "silent" });
const retry = { initialDelayMs: 20, maxDelayMs: 100, maxTotalMs: 5000 };
const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A server answering each request with the next of `answers` (the last repeats). */
function listen(
  answers: Array<{
    status: number;
    body?: string;
    headers?: Record<string, string>;
  }>,
  port = 0,
): Promise<{
  url: string;
  port: number;
  seen: Array<{ url: string; auth: string }>;
}> {
  const seen: Array<{ url: string; auth: string }> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ url: req.url ?? "", auth: req.headers.authorization ?? "" });
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)];
      res.writeHead(answer?.status ?? 500, answer?.headers ?? {});
      res.end(answer?.body ?? "");
    });
  });
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => {
      const p = (server.address() as AddressInfo).port;
      resolve({ url: `http://127.0.0.1:${p}`, port: p, seen });
    }),
  );
}

function client(apiUrl: string, overrides = {}): WorkerApiClient {
  return new WorkerApiClient({
    apiUrl: `${apiUrl}/`,
    runId: "run_1",
    runToken: "rt_secret",
    log,
    retry: { ...retry, ...overrides },
  });
}

const event: RunEvent = { type: "state", assignment: 1, state: "PLANNING" };

describe("WorkerApiClient", () => {
  it("sends the run token and retries 5xx and 429 until acknowledged", async () => {
    const api = await listen([
      { status: 503 },
      { status: 429, headers: { "retry-after": "0" } },
      { status: 204 },
    ]);
    await client(api.url).postEvent(event);
    expect(api.seen).toHaveLength(3);
    expect(api.seen[0]).toEqual({
      url: "/worker/v1/runs/run_1/events",
      auth: "Bearer rt_secret",
    });
  });

  it("stops at once on a 4xx with the server's message", async () => {
    const api = await listen([
      {
        status: 409,
        body: JSON.stringify({ message: "run already finished" }),
      },
    ]);
    const err = await client(api.url)
      .postEvent(event)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerApiError);
    expect((err as WorkerApiError).message).toBe(
      "POST events was refused: HTTP 409: run already finished",
    );
    expect((err as WorkerApiError).retriesExhausted).toBe(false);
    expect(api.seen).toHaveLength(1);
  });

  it("delivers across a server restart", async () => {
    const first = await listen([{ status: 204 }]);
    const port = first.port;
    const s = servers.pop();
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r));
    const sending = client(first.url).postEvent(event);
    await new Promise((r) => setTimeout(r, 150));
    const again = await listen([{ status: 204 }], port);
    await sending;
    expect(again.seen).toHaveLength(1);
  });

  it("gives up after its time budget", async () => {
    const api = await listen([{ status: 500, body: "boom" }]);
    const started = Date.now();
    const err = await client(api.url, { maxTotalMs: 300 })
      .postEvent(event)
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((err as WorkerApiError).retriesExhausted).toBe(true);
    expect((err as WorkerApiError).message).toMatch(
      /^POST events failed after \d+ attempts over \d+ s: HTTP 500: boom$/,
    );
  });
});

describe("RunReporter", () => {
  function recorder() {
    const sent: Array<RunLogChunk | RunEvent> = [];
    return {
      sent,
      api: {
        postLogs: async (c: RunLogChunk) => void sent.push(c),
        postEvent: async (e: RunEvent) => void sent.push(e),
      },
    };
  }

  it("batches whole lines per state, numbered per state, states in between", async () => {
    const { sent, api } = recorder();
    const reporter = new RunReporter(api, 3, log, { chunkBytes: 100 });
    reporter.state("INITIALIZING");
    for (let i = 0; i < 12; i++)
      reporter.line("INITIALIZING", `init line ${i}`);
    reporter.state("PLANNING");
    reporter.line("PLANNING", "plan line");
    await reporter.drain();

    expect(sent[0]).toEqual({
      type: "state",
      assignment: 3,
      state: "INITIALIZING",
    });
    const init = sent.filter(
      (s): s is RunLogChunk => "seq" in s && s.state === "INITIALIZING",
    );
    expect(init.map((c) => c.seq)).toEqual(init.map((_, i) => i));
    expect(init.length).toBeGreaterThan(1);
    expect(init.map((c) => c.text).join("")).toBe(
      Array.from({ length: 12 }, (_, i) => `init line ${i}\n`).join(""),
    );
    expect(sent.slice(-2)).toEqual([
      { type: "state", assignment: 3, state: "PLANNING" },
      { assignment: 3, state: "PLANNING", seq: 0, text: "plan line\n" },
    ]);
  });

  it("sends a partial chunk after the flush interval", async () => {
    const { sent, api } = recorder();
    const reporter = new RunReporter(api, 1, log, { flushMs: 30 });
    reporter.line("PLANNING", "one");
    await expect.poll(() => sent.length, { timeout: 1000 }).toBe(1);
    await reporter.drain();
    expect(sent).toEqual([
      { assignment: 1, state: "PLANNING", seq: 0, text: "one\n" },
    ]);
  });
});
