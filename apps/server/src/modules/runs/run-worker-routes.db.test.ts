import http from "node:http";
import type { AddressInfo } from "node:net";
import { WORKER_API_PREFIX } from "@stackyard/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExecutionKit,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";
import { WORKSPACE_BODY_LIMIT_BYTES } from "./run-worker-routes.ts";

let kit: ExecutionKit;
let base: { host: string; port: number };
beforeAll(async () => {
  kit = await createExecutionKit();
  await kit.http.listen({ host: "127.0.0.1", port: 0 });
  const address = kit.http.server.address() as AddressInfo;
  base = { host: "127.0.0.1", port: address.port };
});
afterAll(async () => {
  await kit?.destroy();
});

const MiB = 1024 * 1024;

/**
 * Sends `total` bytes (or until the response arrives) from a reused 1 MiB chunk, never
 * allocating the whole body; resolves with the response and how much was written.
 */
function streamBody(opts: {
  method: string;
  path: string;
  total: number;
  declareLength: boolean;
  headers?: Record<string, string>;
}): Promise<{ status: number; body: string; written: number; ms: number }> {
  const started = Date.now();
  const chunk = Buffer.alloc(MiB, "a");
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = http.request({
      ...base,
      method: opts.method,
      path: opts.path,
      headers: {
        "content-type": "text/plain",
        ...(opts.declareLength
          ? { "content-length": String(opts.total) }
          : { "transfer-encoding": "chunked" }),
        ...opts.headers,
      },
    });
    req.on("response", (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          body,
          written,
          ms: Date.now() - started,
        });
      });
    });
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    const pump = () => {
      while (!answered && written < opts.total) {
        const n = Math.min(MiB, opts.total - written);
        written += n;
        if (!req.write(n === MiB ? chunk : chunk.subarray(0, n))) {
          req.once("drain", pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

async function heldRun() {
  const stack = await buildStack(kit.t.db, {});
  const worker = await kit.addWorker();
  const run = await kit.runs.service.trigger(ADMIN, {
    stackId: stack.id,
    runType: "TRACKED",
  });
  await kit.t.db
    .updateTable("runs")
    .set({ worker_id: worker.id })
    .where("id", "=", run.id)
    .execute();
  const token = await kit.runTokens.sign(
    { run: run.id, worker: worker.id, pool: kit.defaultPoolId },
    600,
  );
  return { run, token };
}

const livez = async () =>
  (await fetch(`http://${base.host}:${base.port}/livez`)).status;

describe("worker API bodies", () => {
  it("answers 401 to an unauthenticated 600 MiB workspace before reading it, and keeps serving", async () => {
    const declared = await streamBody({
      method: "PUT",
      path: `${WORKER_API_PREFIX}/run_x/workspace`,
      total: 600 * MiB,
      declareLength: true,
    });
    expect(declared.status).toBe(401);
    expect(declared.body).toContain("run token");
    // Answered long before the body could have been sent.
    expect(declared.written).toBeLessThan(600 * MiB);
    expect(declared.ms).toBeLessThan(5000);

    const chunked = await streamBody({
      method: "PUT",
      path: `${WORKER_API_PREFIX}/run_x/workspace`,
      total: 600 * MiB,
      declareLength: false,
    });
    expect(chunked.status).toBe(401);
    expect(chunked.written).toBeLessThan(600 * MiB);
    expect(await livez()).toBe(200);
  });

  it("bounds a huge body sent to a path no route serves", async () => {
    for (const declareLength of [true, false]) {
      const res = await streamBody({
        method: "PUT",
        path: "/no/such/route",
        total: 600 * MiB,
        declareLength,
      });
      expect([404, 413]).toContain(res.status);
      expect(res.written).toBeLessThan(600 * MiB);
    }
    expect(await livez()).toBe(200);
  });

  it("refuses an authenticated workspace over the limit with 413 naming the limit", async () => {
    const { run, token } = await heldRun();
    const res = await streamBody({
      method: "PUT",
      path: `${WORKER_API_PREFIX}/${run.id}/workspace`,
      total: WORKSPACE_BODY_LIMIT_BYTES + 1,
      declareLength: true,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({
      error: "PAYLOAD_TOO_LARGE",
      message: expect.stringContaining("1024 MiB") as string,
    });
    expect(res.written).toBeLessThan(WORKSPACE_BODY_LIMIT_BYTES);
    expect(await livez()).toBe(200);
  });

  it("refuses an authenticated chunked log body over its 2 MiB limit with 413", async () => {
    const { run, token } = await heldRun();
    const res = await streamBody({
      method: "POST",
      path: `${WORKER_API_PREFIX}/${run.id}/logs`,
      total: 8 * MiB,
      declareLength: false,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
      },
    });
    expect(res.status).toBe(413);
    expect(res.body).toContain("2 MiB");
    expect(await livez()).toBe(200);
  });

  it("stores and returns an authenticated workspace as bytes", async () => {
    const { run, token } = await heldRun();
    const put = await kit.call(
      "PUT",
      `${WORKER_API_PREFIX}/${run.id}/workspace`,
      token,
      "sb1.sealed.box",
    );
    expect(put.status).toBe(204);
    const get = await kit.call(
      "GET",
      `${WORKER_API_PREFIX}/${run.id}/workspace`,
      token,
    );
    expect(get).toMatchObject({ status: 200, body: "sb1.sealed.box" });
  });
});
