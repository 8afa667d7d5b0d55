import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodePoolToken } from "@stackyard/protocol";
import { LauncherAuthError, LauncherConnection } from "./connection.ts";
import { runLauncher, type LauncherHandle } from "./main.ts";
import { TestServer } from "../test/test-server.ts";

const log = pino({ level: "silent" });
const timings = {
  reconnectPeriodMs: 50,
  unregisterTimeoutMs: 1000,
  connectTimeoutMs: 2000,
};

let server: TestServer;
let workDir: string;
let launcher: LauncherHandle | null = null;

beforeEach(async () => {
  server = new TestServer();
  await server.start();
  workDir = mkdtempSync(path.join(tmpdir(), "stackyard-launcher-test-"));
});

afterEach(async () => {
  await launcher?.stop();
  launcher = null;
  await server.stop();
  rmSync(workDir, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return server.env({ STACKYARD_LAUNCHER_WORK_DIR: workDir, ...extra });
}

describe("launcher connection", () => {
  it("registers with its metadata, heartbeats, and unregisters on stop", async () => {
    launcher = await runLauncher({
      env: env({
        STACKYARD_METADATA_ZONE: "eu-1",
        STACKYARD_WORKER_ID: "wkr_test1",
      }),
      log,
      timings,
    });
    expect(launcher.workerId).toBe("wkr_test1");
    expect(server.messages("worker.register")).toEqual([
      {
        v: 1,
        type: "worker.register",
        workerId: "wkr_test1",
        poolId: server.poolId,
        version: expect.any(String),
        // Its own metadata, plus the sandbox tag the launcher adds (sandbox.test.ts).
        metadata: { zone: "eu-1", sandbox: expect.any(String) },
        status: "IDLE",
      },
    ]);

    // The server asked for 50 ms heartbeats.
    await expect
      .poll(() => server.messages("worker.heartbeat").length, { timeout: 2000 })
      .toBeGreaterThanOrEqual(3);
    expect(server.messages("worker.heartbeat")[0]).toMatchObject({
      workerId: "wkr_test1",
      status: "IDLE",
      runId: null,
    });

    await launcher.stop();
    expect(await launcher.closed).toEqual({
      code: 0,
      reason: "launcher stopped",
    });
    expect(server.messages("worker.unregister")).toEqual([
      {
        v: 1,
        type: "worker.unregister",
        workerId: "wkr_test1",
        reason: "launcher stopped",
      },
    ]);
    const count = server.messages("worker.heartbeat").length;
    await new Promise((r) => setTimeout(r, 150));
    expect(server.messages("worker.heartbeat").length).toBe(count);
  });

  it("refuses to start with a wrong token, with a clear error", async () => {
    const promise = runLauncher({
      env: env({
        STACKYARD_TOKEN: server.token({
          credential: "wrong-credential-0123456789",
        }),
      }),
      log,
      timings,
    });
    await expect(promise).rejects.toBeInstanceOf(LauncherAuthError);
    await expect(promise).rejects.toThrow(
      /refused this worker \(Connection refused: Bad username or password\): check STACKYARD_TOKEN/,
    );
    expect(server.received).toEqual([]);
  });

  it("reports DRAINED at once when drained, and IDLE when undrained", async () => {
    server.heartbeatIntervalSeconds = 60;
    launcher = await runLauncher({ env: env(), log, timings });
    await server.send(launcher.workerId, {
      v: 1,
      type: "worker.drain",
      drained: true,
    });
    await expect
      .poll(() => server.messages("worker.heartbeat").at(-1)?.status)
      .toBe("DRAINED");
    await server.send(launcher.workerId, {
      v: 1,
      type: "worker.drain",
      drained: false,
    });
    await expect
      .poll(() => server.messages("worker.heartbeat").at(-1)?.status)
      .toBe("IDLE");
  });

  it("exits cleanly when cycled", async () => {
    launcher = await runLauncher({ env: env(), log, timings });
    await server.send(launcher.workerId, { v: 1, type: "worker.cycle" });
    expect(await launcher.closed).toEqual({
      code: 0,
      reason: "cycled by the server",
    });
    expect(server.messages("worker.unregister")).toMatchObject([
      { reason: "cycled by the server" },
    ]);
  });

  it("registers again when the server asks", async () => {
    launcher = await runLauncher({ env: env(), log, timings });
    await server.send(launcher.workerId, { v: 1, type: "worker.reregister" });
    await expect.poll(() => server.messages("worker.register").length).toBe(2);
  });

  it("registers again as BUSY while it still executes a run", async () => {
    const connection = new LauncherConnection({
      token: decodePoolToken(server.token()),
      workerId: "wkr_busy",
      version: "0.0.0-test",
      metadata: {},
      log,
      ...timings,
    });
    await connection.start();
    try {
      expect(server.messages("worker.register")).toMatchObject([
        { status: "IDLE" },
      ]);
      // The server lost track of the worker (it expired it during an outage and failed
      // the run) while the launcher still finishes that run.
      connection.setRun("run_still_going");
      await server.send("wkr_busy", { v: 1, type: "worker.reregister" });
      await expect
        .poll(() => server.messages("worker.register").length)
        .toBe(2);
      expect(server.messages("worker.register")[1]).toMatchObject({
        status: "BUSY",
      });
    } finally {
      await connection.stop("test over");
    }
  });

  it("drops invalid server messages and keeps going", async () => {
    launcher = await runLauncher({ env: env(), log, timings });
    await server.send(launcher.workerId, "{garbage");
    await server.send(
      launcher.workerId,
      JSON.stringify({ v: 9, type: "worker.cycle" }),
    );
    const before = server.messages("worker.heartbeat").length;
    await expect
      .poll(() => server.messages("worker.heartbeat").length)
      .toBeGreaterThan(before + 1);
    expect(server.messages("worker.unregister")).toEqual([]);
  });

  it("re-subscribes and re-registers after losing the connection", async () => {
    launcher = await runLauncher({
      env: env({ STACKYARD_WORKER_ID: "wkr_reconnect" }),
      log,
      timings,
    });
    // A second connection with the same client id takes over and drops ours; mqtt.js reconnects.
    const intruder = await mqtt.connectAsync(server.brokerUrl, {
      protocolVersion: 4,
      clientId: `${server.poolId}:wkr_reconnect`,
      username: server.poolId,
      password: server.credential,
      reconnectPeriod: 0,
    });
    await intruder.endAsync();
    await expect
      .poll(() => server.messages("worker.register").length, { timeout: 3000 })
      .toBeGreaterThanOrEqual(2);
    server.received.length = 0;
    await server.send("wkr_reconnect", {
      v: 1,
      type: "worker.drain",
      drained: true,
    });
    await expect
      .poll(() => server.messages("worker.heartbeat").at(-1)?.status)
      .toBe("DRAINED");
  });

  it("stops while still trying to reach the broker", async () => {
    const abort = new AbortController();
    const unreachable = env();
    await server.stop();
    const promise = runLauncher({
      env: unreachable,
      log,
      timings,
      signal: abort.signal,
    });
    await new Promise((r) => setTimeout(r, 150));
    abort.abort("received SIGTERM");
    await expect(promise).rejects.toThrow(
      "the launcher stopped before it connected",
    );
  });
});
