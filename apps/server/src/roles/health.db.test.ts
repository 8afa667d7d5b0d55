import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/db.ts";
import { freePort } from "../../test/ports.ts";

const CLI = fileURLToPath(
  new URL("../../../cli/bin/stackyard.js", import.meta.url),
);

// Drain and scheduler processes open no API port; probes and scrapers need one.
describe("the health listener of a process without the api role", () => {
  let t: TestDatabase;
  let dataDir: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-health-"));
  });

  afterAll(async () => {
    await t?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("serves /livez, /readyz and /metrics on --health-port, and nothing else", async () => {
    const port = await freePort();
    let output = "";
    const child = spawn(
      process.execPath,
      [
        CLI,
        "server",
        "--roles",
        "scheduler",
        "--health-port",
        String(port),
        "--data-dir",
        dataDir,
      ],
      {
        env: {
          ...process.env,
          DATABASE_URL: t.url,
          STACKYARD_LOG_LEVEL: "info",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    try {
      const deadline = Date.now() + 120_000;
      let live: Response | null = null;
      while (!live && Date.now() < deadline && child.exitCode === null) {
        live = await fetch(`${base}/livez`).catch(() => null);
        if (!live) await new Promise((r) => setTimeout(r, 200));
      }
      expect(live?.status, output).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      const body = (await ready.json()) as {
        status: string;
        checks: Array<{ name: string; ok: boolean }>;
      };
      expect(ready.status, JSON.stringify(body)).toBe(200);
      expect(body.status).toBe("ok");
      // A scheduler publishes nothing over MQTT: its readiness leaves the broker out.
      expect(body.checks.map((c) => c.name)).toEqual(["database", "storage"]);
      expect(body.checks.every((c) => c.ok)).toBe(true);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain("process_cpu_seconds_total");
      // The API is not served here.
      const graphql = await fetch(`${base}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{viewer{id}}" }),
      });
      expect(graphql.status).toBe(404);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT");
        await exited;
      }
    }
    await expect(fetch(`${base}/livez`)).rejects.toThrow();
  }, 180_000);
});
