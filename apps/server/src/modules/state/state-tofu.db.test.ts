import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN,
  STATES_BUCKET,
  createStateKit,
  insertRun,
  insertStack,
  lockInfo,
  setRunState,
  stateRequest,
  type StateKit,
} from "../../../test/state-kit.ts";
import type { RunType } from "../runs/index.ts";
import type { StateScope } from "./state.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// The real OpenTofu binary built by scripts/setup-toolchain.sh.
const BIN_DIR =
  process.env.STACKYARD_BIN_DIR ??
  path.join(os.homedir(), ".cache", "stackyard", "toolchain", "bin");
const TOFU = path.join(BIN_DIR, "tofu");
const HAS_TOFU = !skipWithout(
  "OpenTofu",
  existsSync(TOFU) ? null : `no tofu binary at ${TOFU}`,
  SETUP.toolchain,
);

const MAIN_TF = `
variable "message" {
  type = string
}

resource "terraform_data" "example" {
  input = var.message
}

module "child" {
  source = "./child"
  name   = var.message
}

output "message" {
  value = terraform_data.example.output
}

output "greeting" {
  value = module.child.greeting
}

output "token" {
  value     = "token-\${var.message}"
  sensitive = true
}
`;
const CHILD_TF = `
variable "name" {
  type = string
}

output "greeting" {
  value = "hello \${var.name}"
}
`;

interface TofuResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let kit: StateKit;
let tmp: string;
let cliConfig: string;
let stackId: string;

beforeAll(async () => {
  kit = await createStateKit();
  tmp = await mkdtemp(path.join(os.tmpdir(), "stackyard-tofu-"));
  cliConfig = path.join(tmp, "empty.tofurc");
  await writeFile(cliConfig, "");
  stackId = await insertStack(kit.db, "tofu-stack");
});
afterAll(async () => {
  await kit?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs tofu in `dir` with a private data dir and no user CLI config; killed after `timeoutMs`. */
function tofu(
  dir: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<TofuResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(TOFU, args, {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dir,
        TF_IN_AUTOMATION: "1",
        TF_INPUT: "0",
        TF_DATA_DIR: path.join(dir, ".tfdata"),
        TF_CLI_CONFIG_FILE: cliConfig,
        CHECKPOINT_DISABLE: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `tofu ${args.join(" ")} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const expectOk = (r: TofuResult) => {
  if (r.code !== 0)
    throw new Error(`tofu failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
};

let workspaceCount = 0;

/**
 * A run's workspace, as the launcher prepares it: the stack's code plus a backend file
 * with the run's state credentials, initialized with `tofu init`.
 */
async function workspaceFor(creds: {
  username: string;
  password: string;
  address: string;
}): Promise<string> {
  const dir = path.join(tmp, `ws-${++workspaceCount}`);
  await mkdir(path.join(dir, "child"), { recursive: true });
  await writeFile(path.join(dir, "main.tf"), MAIN_TF);
  await writeFile(path.join(dir, "child", "main.tf"), CHILD_TF);
  await writeFile(
    path.join(dir, "backend.tf"),
    `terraform {
  backend "http" {
    address        = ${JSON.stringify(creds.address)}
    lock_address   = ${JSON.stringify(creds.address)}
    unlock_address = ${JSON.stringify(creds.address)}
    lock_method    = "LOCK"
    unlock_method  = "UNLOCK"
    username       = ${JSON.stringify(creds.username)}
    password       = ${JSON.stringify(creds.password)}
    retry_max      = 0
  }
}
`,
  );
  expectOk(await tofu(dir, ["init", "-input=false", "-no-color"]));
  return dir;
}

/** A run row plus its credentials, with the backend address pointing at the test server. */
async function runWithCreds(
  type: RunType,
  state: string,
  scope: StateScope,
  ttlSeconds = 600,
) {
  const runId = await insertRun(kit.db, { stackId, type, state });
  const issued = await kit.service.issueStateCredentials({
    runId,
    stackId,
    scope,
    ttlSeconds,
  });
  // The service's public URL is not the test server's ephemeral port.
  const address = `${kit.url}/state/${stackId}`;
  return { runId, creds: { ...issued, address } };
}

const apply = (dir: string, message: string) =>
  tofu(dir, [
    "apply",
    "-auto-approve",
    "-input=false",
    "-no-color",
    `-var=message=${message}`,
  ]);
const plan = (dir: string, message: string, extra: string[] = []) =>
  tofu(dir, [
    "plan",
    "-input=false",
    "-no-color",
    "-lock=true",
    "-lock-timeout=0s",
    `-var=message=${message}`,
    ...extra,
  ]);

async function currentContent(): Promise<{
  serial: number;
  lineage: string;
  text: string;
}> {
  const current = await kit.service.getCurrentVersion(stackId);
  if (!current) throw new Error("no current version");
  const text = (
    await kit.service.getVersionContent(stackId, current.id)
  ).toString();
  const doc = JSON.parse(text) as { serial: number; lineage: string };
  return { serial: doc.serial, lineage: doc.lineage, text };
}

/** Each scenario starts a new blocking run; the previous one must have ended. */
let activeRun: string | null = null;
async function nextTrackedRun(state = "APPLYING") {
  if (activeRun) await setRunState(kit.db, activeRun, "FINISHED");
  const run = await runWithCreds("TRACKED", state, "write");
  activeRun = run.runId;
  return run;
}

describe.skipIf(!HAS_TOFU)("OpenTofu against the HTTP state backend", () => {
  let lineage: string;

  it("first apply creates version 1 with tofu's serial and lineage, and releases the lock", async () => {
    const { runId, creds } = await nextTrackedRun();
    const dir = await workspaceFor(creds);
    expectOk(await apply(dir, "hello"));

    const versions = await kit.service.listVersions(stackId);
    expect(versions).toHaveLength(1);
    const content = await currentContent();
    expect(versions[0]).toMatchObject({
      runId,
      isCurrent: true,
      serial: content.serial,
      lineage: content.lineage,
      size: Buffer.byteLength(content.text),
    });
    lineage = content.lineage;
    expect(lineage).toMatch(/^[0-9a-f-]{36}$/);
    expect(await kit.service.getLock(stackId)).toBeNull();
    expect(await kit.service.outputs(stackId)).toEqual([
      { name: "greeting", value: "hello hello", sensitive: false },
      { name: "message", value: "hello", sensitive: false },
      { name: "token", value: null, sensitive: true },
    ]);
    // `tofu state pull` reads back exactly what was stored.
    const pulled = expectOk(await tofu(dir, ["state", "pull"]));
    expect(JSON.parse(pulled.stdout)).toEqual(JSON.parse(content.text));
  });

  it("stores the object encrypted: no plaintext in the states bucket", async () => {
    const [version] = await kit.service.listVersions(stackId);
    const raw = await readFile(
      path.join(
        kit.storageRoot,
        STATES_BUCKET,
        stackId,
        `${version!.id}.tfstate.enc`,
      ),
      "utf8",
    );
    expect(raw).not.toContain("token-hello");
    expect(raw).not.toContain(lineage);
    expect(raw).not.toContain("terraform_data");
  });

  it("a changed input creates version 2 in the same lineage; a no-op apply creates none", async () => {
    const before = (await currentContent()).serial;
    const { creds } = await nextTrackedRun();
    const dir = await workspaceFor(creds);
    expectOk(await apply(dir, "world"));
    const after = await currentContent();
    expect(after.lineage).toBe(lineage);
    expect(after.serial).toBeGreaterThan(before);
    expect(await kit.service.listVersions(stackId)).toHaveLength(2);

    const noop = await nextTrackedRun();
    const noopDir = await workspaceFor(noop.creds);
    const result = expectOk(await apply(noopDir, "world"));
    expect(result.stdout).toContain("0 added, 0 changed, 0 destroyed");
    expect(await kit.service.listVersions(stackId)).toHaveLength(2);
  });

  it("a second plan while the lock is held gets 'state locked' naming the holder", async () => {
    const { creds } = await nextTrackedRun("PLANNING");
    const held = lockInfo("held-by-alice", "OperationTypeApply", "alice@ci");
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds, body: held })).status,
    ).toBe(200);
    const dir = await workspaceFor(creds);
    const locked = await plan(dir, "world");
    expect(locked.code).not.toBe(0);
    expect(locked.stderr).toContain("Error acquiring the state lock");
    expect(locked.stderr).toContain(
      "HTTP remote state already locked: ID=held-by-alice",
    );
    expect(
      (await stateRequest(kit, "UNLOCK", stackId, { creds, body: held }))
        .status,
    ).toBe(200);
    expectOk(await plan(dir, "world"));
  });

  it("a proposed run can plan but not apply", async () => {
    const { creds } = await runWithCreds("PROPOSED", "PLANNING", "read");
    const dir = await workspaceFor(creds);
    const planned = expectOk(await plan(dir, "proposed-change"));
    expect(planned.stdout).toContain(
      "Plan: 0 to add, 1 to change, 0 to destroy",
    );
    const versionsBefore = await kit.service.listVersions(stackId);

    const applied = await apply(dir, "proposed-change");
    expect(applied.code).not.toBe(0);
    expect(applied.stderr).toContain("Error acquiring the state lock");
    expect(applied.stderr).toContain("HTTP remote state endpoint invalid auth");
    expect(await kit.service.getLock(stackId)).toBeNull();

    // Without the lock, the write itself is refused.
    const unlocked = await tofu(dir, [
      "apply",
      "-auto-approve",
      "-input=false",
      "-no-color",
      "-lock=false",
      "-var=message=proposed-change",
    ]);
    expect(unlocked.code).not.toBe(0);
    expect(unlocked.stderr).toContain("HTTP error: 403");
    expect(await kit.service.listVersions(stackId)).toEqual(versionsBefore);
  });

  it("refuses the credentials of a finished run", async () => {
    const { runId, creds } = await nextTrackedRun("PLANNING");
    const dir = await workspaceFor(creds);
    await setRunState(kit.db, runId, "FINISHED");
    activeRun = null;
    const refused = await plan(dir, "world");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("HTTP remote state endpoint invalid auth");
  });

  it("refuses expired credentials", async () => {
    const { creds } = await nextTrackedRun("PLANNING");
    const dir = await workspaceFor(creds);
    kit.clockOffset.ms = 3_600_000;
    try {
      const refused = await plan(dir, "world");
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(
        "HTTP remote state endpoint requires auth",
      );
    } finally {
      kit.clockOffset.ms = 0;
    }
  });

  it("takes over the stale lock of a crashed run and applies", async () => {
    const crashed = await nextTrackedRun();
    await stateRequest(kit, "LOCK", stackId, {
      creds: crashed.creds,
      body: lockInfo("crashed-apply"),
    });
    await setRunState(kit.db, crashed.runId, "FAILED");
    activeRun = null;

    const { runId, creds } = await nextTrackedRun();
    const dir = await workspaceFor(creds);
    expectOk(await apply(dir, "after-crash"));
    expect(await kit.service.getCurrentVersion(stackId)).toMatchObject({
      runId,
    });
    expect(await kit.service.getLock(stackId)).toBeNull();
    expect(
      kit.logs.some(
        (l) =>
          l.staleRunId === crashed.runId &&
          (l.staleLock as { ID?: string } | undefined)?.ID === "crashed-apply",
      ),
    ).toBe(true);
  });

  it("continues from a rolled-back version", async () => {
    const versions = await kit.service.listVersions(stackId);
    const first = versions[versions.length - 1]!;
    const restored = await kit.service.rollback(ADMIN, stackId, first.id);
    expect(restored.serial).toBeGreaterThan(versions[0]!.serial);
    expect(await kit.service.outputs(stackId)).toContainEqual({
      name: "message",
      value: "hello",
      sensitive: false,
    });

    const { creds } = await nextTrackedRun();
    const dir = await workspaceFor(creds);
    // The restored state holds "hello", so planning "hello" shows no changes.
    expect((await plan(dir, "hello")).stdout).toContain("No changes");
    expectOk(await apply(dir, "after-rollback"));
    const current = await currentContent();
    expect(current.serial).toBeGreaterThan(restored.serial);
    expect(current.lineage).toBe(lineage);
  });

  it("collects an orphaned upload but keeps every object a version points to", async () => {
    const orphan = `${stackId}/sv_never_committed.tfstate.enc`;
    await kit.storage.put(STATES_BUCKET, orphan, "x");
    const later = new Date(Date.now() + 2 * 3_600_000);
    expect(await kit.service.collectOrphans(later)).toEqual([orphan]);
    const versions = await kit.service.listVersions(stackId);
    const keys = (await kit.storage.list(STATES_BUCKET, `${stackId}/`)).map(
      (o) => o.key,
    );
    expect(keys.sort()).toEqual(
      versions.map((v) => `${stackId}/${v.id}.tfstate.enc`).sort(),
    );
  });
});
