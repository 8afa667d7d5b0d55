import { generateKeyPairSync } from "node:crypto";
import { encodePoolToken } from "@stackyard/protocol";
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

function problems(env: Record<string, string>): string[] {
  try {
    loadLauncherConfig(env, "/srv");
  } catch (err) {
    if (err instanceof LauncherConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("loadLauncherConfig", () => {
  it("reads a minimal environment with defaults", () => {
    const config = loadLauncherConfig({ STACKYARD_TOKEN: token }, "/srv");
    expect(config.token.poolId).toBe("wp_1");
    expect(config.workerId).toMatch(/^wkr_[0-9a-z]{26}$/);
    expect(config.workDir).toBe("/srv/.stackyard/launcher");
    expect(config.binDir).toBe("/srv/.stackyard/launcher/bin");
    expect(config.poolPrivateKeyPem).toBeNull();
    expect(config.log).toEqual({ level: "info", format: "auto" });
  });

  it("accepts the Spacelift names", () => {
    const pem = generateKeyPairSync("rsa", { modulusLength: 1024 })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    const config = loadLauncherConfig({
      SPACELIFT_TOKEN: token,
      SPACELIFT_POOL_PRIVATE_KEY: Buffer.from(pem).toString("base64"),
    });
    expect(config.token.poolId).toBe("wp_1");
    expect(config.poolPrivateKeyPem).toBe(pem);
  });

  it("lists every problem with its fix", () => {
    const list = problems({
      STACKYARD_POOL_PRIVATE_KEY: "bm90IGEga2V5",
      STACKYARD_WORKER_ID: "a/b",
      STACKYARD_LOG_LEVEL: "loud",
    });
    expect(list).toHaveLength(3);
    expect(list.join("\n")).toContain(
      "STACKYARD_TOKEN is not set: set it to the worker pool token",
    );
    expect(list.join("\n")).toContain("STACKYARD_WORKER_ID must be");
    expect(list.join("\n")).toContain("STACKYARD_LOG_LEVEL must be one of");
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
