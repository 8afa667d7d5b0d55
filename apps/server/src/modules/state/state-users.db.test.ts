import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStateKit,
  insertRun,
  lockInfo,
  setRunState,
  stateFile,
  stateRequest,
  type StateKit,
} from "../../../test/state-kit.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

/**
 * Users outside the platform on the HTTP state backend (external state access): API key
 * id + secret, or `token` + a session JWT, as basic auth. READ may GET, WRITE may also
 * LOCK/UNLOCK (so `tofu plan` works), ADMIN may also POST; never while a run holds the
 * lock; user locks are never stale.
 */

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
`;

type Creds = { username: string; password: string };

let kit: StateKit;
let tmp: string;
let cliConfig: string;
let stackId: string;
let reader: Creds;
let writerA: Creds;
let writerB: Creds;
let admin: Creds;

async function userKey(
  name: string,
  level: "READ" | "WRITE" | "ADMIN",
): Promise<Creds> {
  const key = await kit.auth.createApiKey({
    name,
    admin: false,
    spaceId: "team",
  });
  await kit.db
    .updateTable("api_keys")
    .set({ access_level: level })
    .where("id", "=", key.id)
    .execute();
  return { username: key.id, password: key.secret };
}

async function setExternalAccess(on: boolean): Promise<void> {
  await kit.db
    .updateTable("stacks")
    .set({ external_state_access: on })
    .where("id", "=", stackId)
    .execute();
}

beforeAll(async () => {
  kit = await createStateKit();
  tmp = await mkdtemp(path.join(os.tmpdir(), "stackyard-state-users-"));
  cliConfig = path.join(tmp, "empty.tofurc");
  await writeFile(cliConfig, "");
  await kit.db
    .insertInto("spaces")
    .values({ id: "team", name: "team", parent_space_id: "root" })
    .execute();
  stackId = "users-stack";
  await kit.db
    .insertInto("stacks")
    .values({
      id: stackId,
      name: stackId,
      space_id: "team",
      repository: "infra",
      branch: "main",
      external_state_access: true,
    })
    .execute();
  reader = await userKey("reader", "READ");
  writerA = await userKey("alice", "WRITE");
  writerB = await userKey("bob", "WRITE");
  admin = await userKey("team-admin", "ADMIN");
});
afterAll(async () => {
  await kit?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("user credentials on the state backend", () => {
  it("are refused unless the stack allows external state access", async () => {
    await setExternalAccess(false);
    try {
      const res = await stateRequest(kit, "GET", stackId, { creds: admin });
      expect(res.status).toBe(403);
      expect(res.text).toContain("does not allow external state access");
    } finally {
      await setExternalAccess(true);
    }
  });

  it("refuses a wrong secret and keys outside the stack's space", async () => {
    expect(
      (
        await stateRequest(kit, "GET", stackId, {
          creds: { username: reader.username, password: "nope" },
        })
      ).status,
    ).toBe(401);
    const outsider = await kit.auth.createApiKey({
      name: "outsider",
      admin: false,
      spaceId: "root",
    });
    await kit.db
      .insertInto("spaces")
      .values({ id: "other", name: "other", parent_space_id: "root" })
      .execute();
    await kit.db
      .updateTable("api_keys")
      .set({ space_id: "other", access_level: "ADMIN" })
      .where("id", "=", outsider.id)
      .execute();
    const res = await stateRequest(kit, "GET", stackId, {
      creds: { username: outsider.id, password: outsider.secret },
    });
    expect(res.status).toBe(403);
  });

  it("lets a reader GET but not LOCK, and a writer LOCK but not POST", async () => {
    expect(
      (await stateRequest(kit, "GET", stackId, { creds: reader })).status,
    ).toBe(204);
    const refused = await stateRequest(kit, "LOCK", stackId, {
      creds: reader,
      body: lockInfo("reader-lock", "OperationTypePlan"),
    });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("needs WRITE");

    const post = await stateRequest(kit, "POST", stackId, {
      creds: writerA,
      body: stateFile(1, "lineage-u"),
    });
    expect(post.status).toBe(403);
    expect(post.text).toContain("needs ADMIN");
  });

  it("a user lock blocks other users and runs, names its holder, and is never stale", async () => {
    const held = lockInfo("alice-lock", "OperationTypePlan", "alice@laptop");
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds: writerA, body: held }))
        .status,
    ).toBe(200);
    const lock = await kit.service.getLock(stackId);
    expect(lock).toMatchObject({
      lockId: "alice-lock",
      runId: `api_key:${writerA.username}`,
      stale: false,
    });

    const contender = await stateRequest(kit, "LOCK", stackId, {
      creds: writerB,
      body: lockInfo("bob-lock", "OperationTypePlan", "bob@laptop"),
    });
    expect(contender.status).toBe(423);
    expect(contender.json()).toMatchObject({
      ID: "alice-lock",
      Who: "alice@laptop",
    });

    // A run cannot take it over either: a user's lock is not stale.
    const runId = await insertRun(kit.db, { stackId, state: "APPLYING" });
    const creds = await kit.service.issueStateCredentials({
      runId,
      stackId,
      scope: "write",
      ttlSeconds: 600,
    });
    const runLock = await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("run-lock"),
    });
    expect(runLock.status).toBe(423);
    await setRunState(kit.db, runId, "FINISHED");

    // Bob may not unlock Alice's lock; Alice may.
    expect(
      (
        await stateRequest(kit, "UNLOCK", stackId, {
          creds: writerB,
          body: held,
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await stateRequest(kit, "UNLOCK", stackId, {
          creds: writerA,
          body: held,
        })
      ).status,
    ).toBe(200);
    expect(await kit.service.getLock(stackId)).toBeNull();
  });

  it("an admin may POST under their own lock, never while a run holds it", async () => {
    const mine = lockInfo("admin-lock", "OperationTypeApply", "admin@laptop");
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds: admin, body: mine }))
        .status,
    ).toBe(200);
    const post = await stateRequest(kit, "POST", stackId, {
      creds: admin,
      body: stateFile(1, "lineage-u"),
      lockId: "admin-lock",
    });
    expect(post.status).toBe(200);
    const [version] = await kit.service.listVersions(stackId);
    expect(version).toMatchObject({
      serial: 1,
      runId: null,
      createdBy: `api_key:${admin.username}`,
    });
    expect(
      (await stateRequest(kit, "UNLOCK", stackId, { creds: admin, body: mine }))
        .status,
    ).toBe(200);

    const runId = await insertRun(kit.db, { stackId, state: "APPLYING" });
    const creds = await kit.service.issueStateCredentials({
      runId,
      stackId,
      scope: "write",
      ttlSeconds: 600,
    });
    const runLock = lockInfo("run-lock");
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds, body: runLock }))
        .status,
    ).toBe(200);
    const blocked = await stateRequest(kit, "POST", stackId, {
      creds: admin,
      body: stateFile(2, "lineage-u"),
    });
    expect(blocked.status).toBe(423);
    const named = await stateRequest(kit, "POST", stackId, {
      creds: admin,
      body: stateFile(2, "lineage-u"),
      lockId: "run-lock",
    });
    expect(named.status).toBe(409);
    expect(
      (await stateRequest(kit, "UNLOCK", stackId, { creds, body: runLock }))
        .status,
    ).toBe(200);
    await setRunState(kit.db, runId, "FINISHED");
  });

  it("accepts a session token under the username `token`", async () => {
    const { token } = await kit.auth.exchangeApiKey(
      reader.username,
      reader.password,
    );
    const res = await stateRequest(kit, "GET", stackId, {
      creds: { username: "token", password: token },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ serial: 1 });
  });
});

interface TofuResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnTofu(
  dir: string,
  args: string[],
  interactive = false,
): ChildProcessWithoutNullStreams {
  return spawn(TOFU, args, {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      ...(interactive ? {} : { TF_IN_AUTOMATION: "1", TF_INPUT: "0" }),
      TF_DATA_DIR: path.join(dir, ".tfdata"),
      TF_CLI_CONFIG_FILE: cliConfig,
      CHECKPOINT_DISABLE: "1",
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Collects a tofu process's output; kills it after `timeoutMs`. */
function finished(
  child: ChildProcessWithoutNullStreams,
  timeoutMs = 60_000,
): Promise<TofuResult> & { output: () => string } {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<TofuResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tofu timed out\n${stdout}\n${stderr}`));
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
  return Object.assign(done, { output: () => stdout + stderr });
}

async function tofu(dir: string, args: string[]): Promise<TofuResult> {
  return finished(spawnTofu(dir, args));
}

let dirs = 0;
async function workspaceAs(creds: Creds): Promise<string> {
  const dir = path.join(tmp, `ws-${++dirs}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "main.tf"), MAIN_TF);
  const address = `${kit.url}/state/${stackId}`;
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
  const init = await tofu(dir, ["init", "-input=false", "-no-color"]);
  if (init.code !== 0)
    throw new Error(`tofu init failed:\n${init.stdout}\n${init.stderr}`);
  return dir;
}

const planArgs = (message: string) => [
  "plan",
  "-input=false",
  "-no-color",
  "-lock=true",
  "-lock-timeout=0s",
  `-var=message=${message}`,
];

/** Polls until `check` is true; bounded. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(!HAS_TOFU)("tofu with user credentials", () => {
  it("a plan while another user holds the lock fails naming the holder", async () => {
    const held = lockInfo(
      "alice-raw-lock",
      "OperationTypePlan",
      "alice@laptop",
    );
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds: writerA, body: held }))
        .status,
    ).toBe(200);
    try {
      const dir = await workspaceAs(writerB);
      const locked = await tofu(dir, planArgs("hello"));
      expect(locked.code).not.toBe(0);
      expect(locked.stderr).toContain("Error acquiring the state lock");
      expect(locked.stderr).toContain(
        "HTTP remote state already locked: ID=alice-raw-lock",
      );
      expect(locked.stderr).toContain("alice@laptop");
    } finally {
      await stateRequest(kit, "UNLOCK", stackId, {
        creds: writerA,
        body: held,
      });
    }
    // Released: the same plan now succeeds.
    const dir = await workspaceAs(writerB);
    const ok = await tofu(dir, planArgs("hello"));
    expect(ok.code, ok.stderr).toBe(0);
    expect(await kit.service.getLock(stackId)).toBeNull();
  });

  it("two concurrent tofu processes: the second gets the lock error naming the first", async () => {
    // A's apply waits at its confirmation prompt while holding the lock, which makes the
    // overlap deterministic; B's plan then runs against the held lock.
    const dirA = await workspaceAs(writerA);
    const dirB = await workspaceAs(writerB);
    const a = spawnTofu(
      dirA,
      ["apply", "-no-color", "-lock=true", "-var=message=from-alice"],
      true,
    );
    const aDone = finished(a);
    try {
      await until(
        () => aDone.output().includes("Enter a value") || a.exitCode !== null,
        "alice's apply to reach its prompt",
      );
      expect(aDone.output()).toContain("Enter a value");
      const lock = await kit.service.getLock(stackId);
      expect(lock?.runId).toBe(`api_key:${writerA.username}`);

      const b = await tofu(dirB, planArgs("from-bob"));
      expect(b.code).not.toBe(0);
      expect(b.stderr).toContain("Error acquiring the state lock");
      // tofu wraps the message; the ID may land on the next line.
      expect(b.stderr).toMatch(/HTTP remote state already locked:\s+ID=/);
      expect(b.stderr).toContain(`ID:        ${lock?.lockId}`);
      expect(b.stderr).toContain(String(lock?.info.Who));
    } finally {
      a.stdin.end("no\n");
    }
    const aResult = await aDone;
    expect(aResult.code).not.toBe(0); // declined
    expect(await kit.service.getLock(stackId)).toBeNull();
    const bAgain = await tofu(dirB, planArgs("from-bob"));
    expect(bAgain.code, bAgain.stderr).toBe(0);
  });
});
