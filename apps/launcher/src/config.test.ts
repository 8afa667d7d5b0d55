import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodePoolToken, open, seal } from "@stackyard/protocol";
import { describe, expect, it } from "vitest";
import {
  LauncherConfigError,
  loadLauncherConfig,
  newWorkerId,
  readWorkerMetadata,
} from "./config.ts";

const token = encodePoolToken({
  serverUrl: "https://stackyard.example.com",
  brokerEndpoint: "mqtts://mqtt.example.com:1984",
  poolId: "wp_1",
  credential: "0123456789abcdef0123",
  namespace: "stackyard",
});

const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
});
const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const key = Buffer.from(pem).toString("base64");
const NO_HOME = "/nonexistent-home";

function problems(env: Record<string, string>): string[] {
  try {
    loadLauncherConfig(env, "/srv", NO_HOME);
  } catch (err) {
    if (err instanceof LauncherConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("loadLauncherConfig", () => {
  it("reads a minimal environment with defaults", () => {
    const config = loadLauncherConfig(
      {
        STACKYARD_TOKEN: token,
        STACKYARD_POOL_PRIVATE_KEY: key,
        PATH: "/a:/b",
      },
      "/srv",
      NO_HOME,
    );
    expect(config.token.poolId).toBe("wp_1");
    expect(config.workerId).toMatch(/^wkr_[0-9a-z]{26}$/);
    expect(config.workDir).toBe("/srv/.stackyard/launcher");
    // No toolchain cache under the home directory: tools are found on PATH.
    expect(config.binDir).toBeNull();
    expect(config.searchPath).toBe("/a:/b");
    expect(config.shutdownGraceMs).toBe(60_000);
    expect(config.poolPrivateKeyPem).toBe(pem);
    expect(config.log).toEqual({ level: "info", format: "auto" });
    expect(config.unsandboxedRuns).toBe(false);
    expect(config.sandboxHiddenPaths).toEqual([]);
  });

  it("allows unsandboxed runs only when told so explicitly", () => {
    const base = { STACKYARD_TOKEN: token, STACKYARD_POOL_PRIVATE_KEY: key };
    const read = (env: Record<string, string>) =>
      loadLauncherConfig({ ...base, ...env }, "/srv", NO_HOME);
    expect(read({ STACKYARD_UNSANDBOXED_RUNS: "true" }).unsandboxedRuns).toBe(
      true,
    );
    expect(read({ STACKYARD_UNSANDBOXED_RUNS: "false" }).unsandboxedRuns).toBe(
      false,
    );
    expect(problems({ ...base, STACKYARD_UNSANDBOXED_RUNS: "yes" })).toEqual([
      expect.stringMatching(
        /^STACKYARD_UNSANDBOXED_RUNS must be true or false/,
      ),
    ]);
    expect(
      read({ STACKYARD_SANDBOX_HIDDEN_PATHS: "/srv/data:/etc/stackyard/" })
        .sandboxHiddenPaths,
    ).toEqual(["/srv/data", "/etc/stackyard/"]);
    expect(
      problems({ ...base, STACKYARD_SANDBOX_HIDDEN_PATHS: "/ok:relative" }),
    ).toEqual([
      "STACKYARD_SANDBOX_HIDDEN_PATHS must be absolute paths separated by ':'",
    ]);
  });

  it("derives the pool public key from the private key", () => {
    const config = loadLauncherConfig(
      { STACKYARD_TOKEN: token, STACKYARD_POOL_PRIVATE_KEY: key },
      "/srv",
      NO_HOME,
    );
    expect(config.poolPublicKeyPem).toBe(
      publicKey.export({ type: "spki", format: "pem" }).toString(),
    );
    const box = seal(config.poolPublicKeyPem, "workspace");
    expect(open(config.poolPrivateKeyPem, box).toString()).toBe("workspace");
  });

  it("uses the toolchain cache when it exists", () => {
    const home = mkdtempSync(path.join(tmpdir(), "stackyard-home-"));
    try {
      const bin = path.join(home, ".cache", "stackyard", "toolchain", "bin");
      mkdirSync(bin, { recursive: true });
      const config = loadLauncherConfig(
        { STACKYARD_TOKEN: token, STACKYARD_POOL_PRIVATE_KEY: key },
        "/srv",
        home,
      );
      expect(config.binDir).toBe(bin);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("accepts the Spacelift names", () => {
    const config = loadLauncherConfig(
      { SPACELIFT_TOKEN: token, SPACELIFT_POOL_PRIVATE_KEY: key },
      "/srv",
      NO_HOME,
    );
    expect(config.token.poolId).toBe("wp_1");
    expect(config.poolPrivateKeyPem).toBe(pem);
  });

  it("requires the pool private key, explaining the fix", () => {
    expect(problems({ STACKYARD_TOKEN: token })).toEqual([
      expect.stringMatching(
        /^STACKYARD_POOL_PRIVATE_KEY is not set: set it to the pool's private key as base64 PEM.*base64 -w0 < pool.key/,
      ),
    ]);
  });

  it("refuses a key that is not RSA", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    expect(
      problems({
        STACKYARD_TOKEN: token,
        STACKYARD_POOL_PRIVATE_KEY: Buffer.from(ec).toString("base64"),
      }),
    ).toEqual([
      expect.stringMatching(/^STACKYARD_POOL_PRIVATE_KEY is a ec key, not RSA/),
    ]);
  });

  it("reads the shutdown grace period", () => {
    const config = loadLauncherConfig(
      {
        STACKYARD_TOKEN: token,
        STACKYARD_POOL_PRIVATE_KEY: key,
        STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS: "2.5",
      },
      "/srv",
      NO_HOME,
    );
    expect(config.shutdownGraceMs).toBe(2500);
    expect(
      problems({
        STACKYARD_TOKEN: token,
        STACKYARD_POOL_PRIVATE_KEY: key,
        STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS: "soon",
      }),
    ).toEqual([
      expect.stringMatching(
        /^STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS must be/,
      ),
    ]);
  });

  it("lists every problem with its fix", () => {
    const list = problems({
      STACKYARD_POOL_PRIVATE_KEY: "bm90IGEga2V5",
      STACKYARD_WORKER_ID: "a/b",
      STACKYARD_LOG_LEVEL: "loud",
    });
    expect(list).toHaveLength(4);
    expect(list.join("\n")).toContain(
      "STACKYARD_TOKEN is not set: set it to the worker pool token",
    );
    expect(list.join("\n")).toContain("STACKYARD_WORKER_ID must be");
    expect(list.join("\n")).toContain("STACKYARD_LOG_LEVEL must be one of");
    expect(list.join("\n")).toContain(
      "STACKYARD_POOL_PRIVATE_KEY is not a base64-encoded PEM private key",
    );
  });

  it("explains a garbage token and a bad private key together", () => {
    const list = problems({
      STACKYARD_TOKEN: "garbage!",
      STACKYARD_POOL_PRIVATE_KEY: "bm90IGEga2V5",
    });
    expect(list).toEqual([
      expect.stringMatching(/^STACKYARD_TOKEN: pool token is not base64/),
      expect.stringMatching(
        /^STACKYARD_POOL_PRIVATE_KEY is not a base64-encoded PEM private key/,
      ),
    ]);
  });

  it("uses STACKYARD_WORKER_ID and resolves directories against cwd", () => {
    const config = loadLauncherConfig(
      {
        STACKYARD_TOKEN: token,
        STACKYARD_POOL_PRIVATE_KEY: key,
        STACKYARD_WORKER_ID: "wkr_fixed",
        STACKYARD_LAUNCHER_WORK_DIR: "work",
        STACKYARD_BIN_DIR: "/opt/bin",
      },
      "/srv",
    );
    expect(config).toMatchObject({
      workerId: "wkr_fixed",
      workDir: "/srv/work",
      binDir: "/opt/bin",
    });
  });
});

describe("readWorkerMetadata", () => {
  it("lower-cases keys, strips prefixes and prefers the Stackyard name", () => {
    expect(
      readWorkerMetadata({
        SPACELIFT_METADATA_Zone: "spacelift",
        STACKYARD_METADATA_ZONE: "stackyard",
        SPACELIFT_METADATA_team: "infra",
        STACKYARD_METADATA_: "ignored",
        OTHER: "x",
      }),
    ).toEqual({ zone: "stackyard", team: "infra" });
  });
});

describe("newWorkerId", () => {
  it("sorts by time and is unique", () => {
    const a = newWorkerId(1_000);
    const b = newWorkerId(2_000);
    expect(a < b).toBe(true);
    expect(newWorkerId()).not.toBe(newWorkerId());
  });
});
