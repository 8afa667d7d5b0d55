import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStateKit,
  insertRun,
  insertStack,
  type StateKit,
} from "../../../test/state-kit.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// History with real OpenTofu: 100 sequential applies, each changing an input, through
// the HTTP backend with the credentials of one tracked run in APPLYING.
const BIN_DIR =
  process.env.STACKYARD_BIN_DIR ??
  path.join(os.homedir(), ".cache", "stackyard", "toolchain", "bin");
const TOFU = path.join(BIN_DIR, "tofu");
const HAS_TOFU = !skipWithout(
  "OpenTofu",
  existsSync(TOFU) ? null : `no tofu binary at ${TOFU}`,
  SETUP.toolchain,
);

const APPLIES = 100;
const MAIN_TF = `
variable "message" {
  type = string
}
resource "terraform_data" "example" {
  input = var.message
}
output "message" {
  value = terraform_data.example.output
}
`;

let kit: StateKit;
let dir: string;

beforeAll(async () => {
  kit = await createStateKit();
  dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-history-"));
});
afterAll(async () => {
  await kit?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function tofu(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TOFU, args, {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dir,
        TF_IN_AUTOMATION: "1",
        TF_INPUT: "0",
        TF_DATA_DIR: path.join(dir, ".tfdata"),
        TF_CLI_CONFIG_FILE: path.join(dir, "empty.tofurc"),
        CHECKPOINT_DISABLE: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tofu ${args.join(" ")} timed out\n${out}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await tofu(args);
  if (r.code !== 0) throw new Error(`tofu ${args[0]} failed:\n${r.out}`);
  return r.out;
}

describe.skipIf(!HAS_TOFU)("state history", () => {
  it(`${APPLIES} sequential applies make ${APPLIES} versions with tofu's serials, newest first`, async () => {
    const stackId = await insertStack(kit.db, "history-stack");
    const runId = await insertRun(kit.db, { stackId, state: "APPLYING" });
    const creds = await kit.service.issueStateCredentials({
      runId,
      stackId,
      scope: "write",
      ttlSeconds: 3600,
    });
    const address = `${kit.url}/state/${stackId}`;
    await writeFile(path.join(dir, "empty.tofurc"), "");
    await writeFile(path.join(dir, "main.tf"), MAIN_TF);
    await writeFile(
      path.join(dir, "backend.tf"),
      `terraform {
  backend "http" {
    address        = ${JSON.stringify(address)}
    lock_address   = ${JSON.stringify(address)}
    unlock_address = ${JSON.stringify(address)}
    lock_method    = "LOCK"
    unlock_method  = "UNLOCK"
    username       = ${JSON.stringify(creds.username)}
    password       = ${JSON.stringify(creds.password)}
    retry_max      = 0
  }
}
`,
    );
    await ok(["init", "-input=false", "-no-color"]);

    for (let i = 1; i <= APPLIES; i++)
      await ok([
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-refresh=false",
        `-var=message=m-${i}`,
      ]);

    const versions = await kit.service.listVersions(stackId, { limit: 1000 });
    expect(versions).toHaveLength(APPLIES);
    // Newest first, serials strictly decreasing down the list.
    for (let i = 1; i < versions.length; i++) {
      expect(versions[i - 1]!.createdAt.getTime()).toBeGreaterThanOrEqual(
        versions[i]!.createdAt.getTime(),
      );
      expect(versions[i - 1]!.serial).toBeGreaterThan(versions[i]!.serial);
    }
    expect(versions.filter((v) => v.isCurrent).map((v) => v.id)).toEqual([
      versions[0]!.id,
    ]);
    // Each row's serial and lineage are what tofu wrote in that version's content, and
    // version k (oldest first) holds the k-th apply's input.
    const oldestFirst = [...versions].reverse();
    const lineages = new Set<string>();
    for (const [k, v] of oldestFirst.entries()) {
      const doc = JSON.parse(
        (await kit.service.getVersionContent(stackId, v.id)).toString(),
      ) as {
        serial: number;
        lineage: string;
        outputs: { message: { value: string } };
      };
      expect(doc.serial).toBe(v.serial);
      expect(doc.lineage).toBe(v.lineage);
      expect(doc.outputs.message.value).toBe(`m-${k + 1}`);
      expect(v.runId).toBe(runId);
      lineages.add(doc.lineage);
    }
    expect(lineages.size).toBe(1);
    // And tofu's own view of the latest state agrees.
    const pulled = JSON.parse(await ok(["state", "pull"])) as {
      serial: number;
    };
    expect(pulled.serial).toBe(versions[0]!.serial);
  }, 240_000);
});
