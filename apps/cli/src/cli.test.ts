import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../..",
);
const CLI = path.join(ROOT, "apps/cli/bin/stackyard.js");
const FIXTURES = path.join(ROOT, "apps/server/test/fixtures/config");

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("stackyard CLI", () => {
  it("prints its version", () => {
    const r = run(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^stackyard \d+\.\d+\.\d+/);
  });

  it("has --help on every command", () => {
    for (const cmd of [
      [],
      ["up"],
      ["server"],
      ["launcher"],
      ["migrate"],
      ["config", "validate"],
      ["version"],
    ]) {
      const r = run([...cmd, "--help"]);
      expect(r.code, cmd.join(" ")).toBe(0);
      expect(r.stdout).toMatch(/Usage: stackyard/);
    }
  });

  it("rejects an unknown flag with a one-line error and exit code 2", () => {
    const r = run(["up", "--colour"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^stackyard: unknown option '--colour'/);
  });

  it("rejects a bad flag value, says what is expected, and exits 2", () => {
    const r = run(["up", "--port", "http"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--port.*expected a port number between 1 and 65535/,
    );
  });

  it("rejects a bad environment value before starting anything, with exit code 2", () => {
    const r = run(["up", "--data-dir", "/tmp/stackyard-never-created"], {
      STACKYARD_MQTT_PORT: "not-a-port",
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/STACKYARD_MQTT_PORT/);
  });

  it("validates a seed-style config.json", () => {
    const r = run([
      "config",
      "validate",
      "-c",
      path.join(FIXTURES, "valid-oidc.json"),
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/configuration is valid/);
  });

  it("lists the problems of a broken config.json by field and exits non-zero", () => {
    const r = run([
      "config",
      "validate",
      "-c",
      path.join(FIXTURES, "invalid-oidc-missing-client-id.json"),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/sso_config\.oidc_args\.client_id/);
  });

  it("says the server role needs DATABASE_URL", () => {
    const r = run(["server", "--roles", "api"], { DATABASE_URL: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs DATABASE_URL/);
  });
});
