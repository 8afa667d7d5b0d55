import { mkdtemp, readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  freePort,
  graphql,
  isAlive,
  processesWithEnv,
  runCli,
  waitFor,
  type CliProcess,
} from "./harness.ts";

// `stackyard up` end to end: real embedded PostgreSQL, built-in broker, local launcher.
describe("stackyard up", () => {
  const running: CliProcess[] = [];
  afterAll(async () => {
    for (const p of running)
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
  });

  it("starts on embedded defaults, refuses a second copy, stops cleanly and keeps its data", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-up-"));
    const port = await freePort();
    const mqttPort = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: undefined,
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      STACKYARD_LOG_LEVEL: "warn",
    };
    const args = [
      "up",
      "--data-dir",
      dataDir,
      "--port",
      String(port),
      "--mqtt-port",
      String(mqttPort),
    ];

    const first = runCli(args, env);
    running.push(first);
    await waitFor(
      "/readyz",
      async () => (await fetch(`${base}/readyz`)).status === 200,
    );
    await waitFor("the banner", async () =>
      first.output().includes("Stackyard is running at"),
    );

    const keyFile = path.join(dataDir, "admin-api-key.json");
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(
      (await stat(path.join(dataDir, "encryption-key.pem"))).mode & 0o777,
    ).toBe(0o600);
    const key = JSON.parse(await readFile(keyFile, "utf8")) as {
      id: string;
      secret: string;
    };
    expect(first.output()).toContain(key.secret);

    const exchange = await graphql<{ apiKeyUser: { jwt: string } | null }>(
      base,
      "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt,validUntil}}",
      key,
    );
    const jwt = exchange.data?.apiKeyUser?.jwt;
    expect(jwt).toBeTruthy();
    const viewer = await graphql<{ viewer: { id: string } }>(
      base,
      "{viewer{id,name}}",
      undefined,
      jwt,
    );
    expect(viewer.data?.viewer.id).toBe(key.id);

    const jwks = (await (await fetch(`${base}/.well-known/jwks`)).json()) as {
      keys: Array<{ kid: string; alg: string }>;
    };
    expect(jwks.keys[0]?.alg).toBe("RS256");

    // The local launcher is a child process attached to the default pool.
    const launcherMarker = `STACKYARD_LAUNCHER_WORK_DIR=${path.join(dataDir, "launcher")}`;
    const launchers = await waitFor("the local launcher", async () => {
      const pids = processesWithEnv(launcherMarker);
      return pids.length ? pids : null;
    });

    const second = runCli(args, env);
    running.push(second);
    expect(await second.exited).not.toBe(0);
    expect(second.output()).toMatch(/already running on data directory/);

    const postmasterPid = Number(
      (
        await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")
      ).split("\n")[0],
    );
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    // pg_ctl returns once the pid file is gone; the processes exit a moment later.
    await waitFor(
      "PostgreSQL to exit",
      async () => !isAlive(postmasterPid),
      10_000,
    );
    await waitFor(
      "the launcher to exit",
      async () => launchers.every((pid) => !isAlive(pid)),
      10_000,
    );

    const again = runCli(args, env);
    running.push(again);
    await waitFor(
      "/readyz after restart",
      async () => (await fetch(`${base}/readyz`)).status === 200,
    );
    await waitFor("the banner after restart", async () =>
      again.output().includes("Stackyard is running at"),
    );
    expect(again.output()).not.toContain(key.secret);
    expect(JSON.parse(await readFile(keyFile, "utf8"))).toEqual(key);
    const reExchange = await graphql<{ apiKeyUser: { jwt: string } | null }>(
      base,
      "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt,validUntil}}",
      key,
    );
    expect(reExchange.data?.apiKeyUser?.jwt).toBeTruthy();
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  }, 240_000);
});
