import { createHash } from "node:crypto";
import { readFile, utimes } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN,
  NON_ADMIN,
  STATES_BUCKET,
  createStateKit,
  insertRun,
  insertStack,
  lockInfo,
  setRunState,
  stateFile,
  stateRequest,
  type StateKit,
} from "../../../test/state-kit.ts";
import { stateJobs } from "./state-jobs.ts";

let kit: StateKit;
beforeAll(async () => {
  kit = await createStateKit();
});
afterAll(async () => {
  await kit?.close();
});

async function writer(stackId: string, state = "APPLYING") {
  const runId = await insertRun(kit.db, { stackId, type: "TRACKED", state });
  const creds = await kit.service.issueStateCredentials({
    runId,
    stackId,
    scope: "write",
    ttlSeconds: 600,
  });
  return { runId, creds };
}

async function versionsOf(stackId: string) {
  return kit.service.listVersions(stackId);
}

describe("HTTP state backend (raw protocol)", () => {
  it("answers 204 for a stack without state and 200 with the state after a write", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    expect((await stateRequest(kit, "GET", stackId, { creds })).status).toBe(
      204,
    );
    const body = stateFile(1, "lin-a", { name: { value: "x" } });
    const post = await stateRequest(kit, "POST", stackId, { creds, body });
    expect(post.status).toBe(200);
    const get = await stateRequest(kit, "GET", stackId, { creds });
    expect(get.status).toBe(200);
    expect(get.text).toBe(body);
  });

  it("requires credentials and names the reason when they are missing or wrong", async () => {
    const stackId = await insertStack(kit.db);
    const none = await stateRequest(kit, "GET", stackId);
    expect(none.status).toBe(401);
    const bad = await stateRequest(kit, "GET", stackId, {
      creds: { username: "run_x", password: "not-a-jwt" },
    });
    expect(bad.status).toBe(401);
    expect(bad.text).toMatch(/invalid/);
  });

  it("refuses credentials of another stack, of a finished run, and expired ones", async () => {
    const stackA = await insertStack(kit.db);
    const stackB = await insertStack(kit.db);
    const { runId, creds } = await writer(stackA);
    const other = await stateRequest(kit, "GET", stackB, { creds });
    expect(other.status).toBe(403);
    expect(other.text).toContain(`for stack ${stackA}, not ${stackB}`);

    await setRunState(kit.db, runId, "FINISHED");
    const finished = await stateRequest(kit, "GET", stackA, { creds });
    expect(finished.status).toBe(403);
    expect(finished.text).toContain("is FINISHED");

    const fresh = await writer(stackA);
    const short = await kit.service.issueStateCredentials({
      runId: fresh.runId,
      stackId: stackA,
      scope: "write",
      ttlSeconds: 60,
    });
    kit.clockOffset.ms = 61_000;
    try {
      const expired = await stateRequest(kit, "GET", stackA, { creds: short });
      expect(expired.status).toBe(401);
      expect(expired.text).toContain("expired");
    } finally {
      kit.clockOffset.ms = 0;
    }
  });

  it("refuses a username that is not the credentials' run", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    const res = await stateRequest(kit, "GET", stackId, {
      creds: { username: "run_other", password: creds.password },
    });
    expect(res.status).toBe(401);
  });

  it("refuses writes outside a writing phase", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId, "UNCONFIRMED");
    expect((await stateRequest(kit, "GET", stackId, { creds })).status).toBe(
      204,
    );
    const post = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "l"),
    });
    expect(post.status).toBe(403);
    expect(post.text).toContain("UNCONFIRMED");
  });

  it("rejects bodies that are not state files with 400", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    const notJson = await stateRequest(kit, "POST", stackId, {
      creds,
      body: "{nope",
    });
    expect(notJson.status).toBe(400);
    expect(notJson.text).toContain("not valid JSON");
    const noSerial = await stateRequest(kit, "POST", stackId, {
      creds,
      body: { version: 4, lineage: "x" },
    });
    expect(noSerial.status).toBe(400);
    expect(noSerial.text).toContain("serial");
    const noLineage = await stateRequest(kit, "POST", stackId, {
      creds,
      body: { version: 4, serial: 1 },
    });
    expect(noLineage.status).toBe(400);
    expect(noLineage.text).toContain("lineage");
  });

  it("rejects a body that does not match its Content-MD5", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    const res = await fetch(`${kit.url}/state/${stackId}`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`,
        "content-type": "application/json",
        "content-md5": createHash("md5").update("other").digest("base64"),
      },
      body: stateFile(1, "md5"),
    });
    expect(res.status).toBe(400);
    expect(await versionsOf(stackId)).toHaveLength(0);
  });

  it("rejects a lineage mismatch and a serial going backwards with 409", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    expect(
      (
        await stateRequest(kit, "POST", stackId, {
          creds,
          body: stateFile(5, "lin-1"),
        })
      ).status,
    ).toBe(200);
    const lineage = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(6, "lin-2"),
    });
    expect(lineage.status).toBe(409);
    expect(lineage.json()).toMatchObject({
      message: "lineage lin-2 does not match the stack's state lineage lin-1",
    });
    const backwards = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(4, "lin-1"),
    });
    expect(backwards.status).toBe(409);
    expect(backwards.text).toContain("serial went backwards");
    const sameSerial = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(5, "lin-1", { o: { value: "changed" } }),
    });
    expect(sameSerial.status).toBe(409);
    expect(await versionsOf(stackId)).toHaveLength(1);
  });

  it("creates no version when the content is identical to the current one", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    const body = stateFile(1, "lin");
    await stateRequest(kit, "POST", stackId, { creds, body });
    const again = await stateRequest(kit, "POST", stackId, { creds, body });
    expect(again.json()).toMatchObject({ created: false });
    expect(await versionsOf(stackId)).toHaveLength(1);
  });

  it("accepts a state far above Fastify's default 1 MiB body limit, byte for byte", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    const body = stateFile(1, "big", { blob: { value: "x".repeat(5 << 20) } });
    const post = await stateRequest(kit, "POST", stackId, { creds, body });
    expect(post.status).toBe(200);
    const [version] = await versionsOf(stackId);
    expect(version?.size).toBe(Buffer.byteLength(body));
    expect((await stateRequest(kit, "GET", stackId, { creds })).text).toBe(
      body,
    );
  });

  it("makes exactly one of two racing writers current", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "race"),
    });
    // Both start from serial 1; whoever commits second sees serial 2 already current.
    const results = await Promise.all(
      ["a", "b"].map((tag) =>
        stateRequest(kit, "POST", stackId, {
          creds,
          body: stateFile(2, "race", { tag: { value: tag } }),
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const versions = await versionsOf(stackId);
    expect(versions).toHaveLength(2);
    expect(versions.filter((v) => v.isCurrent)).toHaveLength(1);
    expect(versions[0]).toMatchObject({ serial: 2, isCurrent: true });
  });

  it("stores the state encrypted under <stack>/<version>.tfstate.enc", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    const body = stateFile(1, "lin-enc", {
      greeting: { value: "plaintext-marker" },
    });
    await stateRequest(kit, "POST", stackId, { creds, body });
    const [version] = await versionsOf(stackId);
    expect(version?.id).toMatch(/^sv_[0-9a-z]{26}$/);
    const objects = await kit.storage.list(STATES_BUCKET, `${stackId}/`);
    expect(objects.map((o) => o.key)).toEqual([
      `${stackId}/${version?.id}.tfstate.enc`,
    ]);
    const raw = await readFile(
      path.join(
        kit.storageRoot,
        STATES_BUCKET,
        stackId,
        `${version?.id}.tfstate.enc`,
      ),
      "utf8",
    );
    expect(raw).not.toContain("plaintext-marker");
    expect(raw).not.toContain("lin-enc");
    expect(raw).toMatch(/^v1\./);
    expect(
      (await kit.service.getVersionContent(stackId, version!.id)).toString(),
    ).toBe(body);
  });
});

describe("state locks", () => {
  it("answers 423 with the holder's lock info, then lets the holder write and unlock", async () => {
    const stackId = await insertStack(kit.db);
    const { runId, creds } = await writer(stackId);
    const held = lockInfo("lock-1", "OperationTypeApply", "alice@ci");
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds, body: held })).status,
    ).toBe(200);
    // The same LOCK again (a retry) is fine; another lock ID is not.
    expect(
      (await stateRequest(kit, "LOCK", stackId, { creds, body: held })).status,
    ).toBe(200);
    const contender = await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("lock-2"),
    });
    expect(contender.status).toBe(423);
    expect(contender.json()).toMatchObject({ ID: "lock-1", Who: "alice@ci" });
    expect(await kit.service.getLock(stackId)).toMatchObject({
      lockId: "lock-1",
      runId,
      stale: false,
    });

    // Writes need the lock's ID while it is held.
    const noId = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "l"),
    });
    expect(noId.status).toBe(423);
    const wrongId = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "l"),
      lockId: "lock-2",
    });
    expect(wrongId.status).toBe(409);
    const ok = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "l"),
      lockId: "lock-1",
    });
    expect(ok.status).toBe(200);

    const wrongUnlock = await stateRequest(kit, "UNLOCK", stackId, {
      creds,
      body: lockInfo("lock-2"),
    });
    expect(wrongUnlock.status).toBe(409);
    expect(wrongUnlock.text).toContain("lock-1");
    expect(
      (await stateRequest(kit, "UNLOCK", stackId, { creds, body: held }))
        .status,
    ).toBe(200);
    // Unlocking twice is not an error.
    expect(
      (await stateRequest(kit, "UNLOCK", stackId, { creds, body: held }))
        .status,
    ).toBe(200);
    expect(await kit.service.getLock(stackId)).toBeNull();
  });

  it("refuses a write naming a lock that is no longer held", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("lock-gone"),
    });
    await kit.service.forceUnlock(ADMIN, stackId);
    const res = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "l"),
      lockId: "lock-gone",
    });
    expect(res.status).toBe(409);
    expect(res.text).toContain("no longer held");
  });

  it("takes over a stale lock of a terminal run and logs it", async () => {
    const stackId = await insertStack(kit.db);
    const crashed = await writer(stackId);
    await stateRequest(kit, "LOCK", stackId, {
      creds: crashed.creds,
      body: lockInfo("crashed-lock"),
    });
    await setRunState(kit.db, crashed.runId, "FAILED");
    expect(await kit.service.getLock(stackId)).toMatchObject({ stale: true });

    const next = await writer(stackId);
    const res = await stateRequest(kit, "LOCK", stackId, {
      creds: next.creds,
      body: lockInfo("fresh-lock"),
    });
    expect(res.status).toBe(200);
    expect(await kit.service.getLock(stackId)).toMatchObject({
      lockId: "fresh-lock",
      runId: next.runId,
      stale: false,
    });
    expect(
      kit.logs.find(
        (l) =>
          l.staleRunId === crashed.runId &&
          /stale state lock/.test(String(l.msg)),
      ),
    ).toMatchObject({ level: 40, stackId, runId: next.runId });
  });

  it("takes over a lock whose run no longer exists", async () => {
    const stackId = await insertStack(kit.db);
    const gone = await writer(stackId);
    await stateRequest(kit, "LOCK", stackId, {
      creds: gone.creds,
      body: lockInfo("orphan-lock"),
    });
    await kit.db.deleteFrom("runs").where("id", "=", gone.runId).execute();
    const next = await writer(stackId);
    expect(
      (
        await stateRequest(kit, "LOCK", stackId, {
          creds: next.creds,
          body: lockInfo("new-lock"),
        })
      ).status,
    ).toBe(200);
  });

  it("lets read-only credentials 'lock' for a plan without taking the lock, and refuses other operations", async () => {
    const stackId = await insertStack(kit.db);
    const runId = await insertRun(kit.db, {
      stackId,
      type: "PROPOSED",
      state: "PLANNING",
    });
    const creds = await kit.service.issueStateCredentials({
      runId,
      stackId,
      scope: "read",
      ttlSeconds: 600,
    });
    const plan = await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("p-1", "OperationTypePlan"),
    });
    expect(plan.status).toBe(200);
    expect(await kit.service.getLock(stackId)).toBeNull();
    const apply = await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("p-2", "OperationTypeApply"),
    });
    expect(apply.status).toBe(403);
    expect(apply.text).toContain("only for a plan");
    const write = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "l"),
    });
    expect(write.status).toBe(403);
    expect(write.text).toContain("proposed run");
  });

  it("force-unlocks for admins only, logging the actor and the lock", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("stuck", "OperationTypeApply", "bob@ci"),
    });
    await expect(kit.service.forceUnlock(NON_ADMIN, stackId)).rejects.toThrow(
      /only an admin/,
    );
    const removed = await kit.service.forceUnlock(ADMIN, stackId);
    expect(removed).toMatchObject({ lockId: "stuck" });
    expect(await kit.service.getLock(stackId)).toBeNull();
    expect(
      kit.logs.find(
        (l) => l.msg === "force-unlocked state" && l.stackId === stackId,
      ),
    ).toMatchObject({
      level: 40,
      actor: "user:admin:ops",
      lock: { lockId: "stuck", info: { Who: "bob@ci" } },
    });
  });
});

describe("admin operations and history", () => {
  it("DELETE needs an admin session and leaves the stack without current state", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "old-lineage"),
    });
    expect((await stateRequest(kit, "DELETE", stackId, { creds })).status).toBe(
      401,
    );
    expect(
      (await stateRequest(kit, "DELETE", stackId, { bearer: "reader-token" }))
        .status,
    ).toBe(403);
    expect(
      (await stateRequest(kit, "DELETE", stackId, { bearer: "admin-token" }))
        .status,
    ).toBe(200);
    expect((await stateRequest(kit, "GET", stackId, { creds })).status).toBe(
      204,
    );
    // A new lineage may start; the old version stays in history.
    expect(
      (
        await stateRequest(kit, "POST", stackId, {
          creds,
          body: stateFile(0, "new-lineage"),
        })
      ).status,
    ).toBe(200);
    expect((await versionsOf(stackId)).map((v) => v.lineage)).toEqual([
      "new-lineage",
      "old-lineage",
    ]);
  });

  it("rolls back by copying an old version into a new one with a higher serial", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    for (const [serial, value] of [
      [1, "one"],
      [2, "two"],
      [3, "three"],
    ] as const)
      await stateRequest(kit, "POST", stackId, {
        creds,
        body: stateFile(serial, "lin-rb", { v: { value } }),
      });
    const [, , first] = await versionsOf(stackId);
    await expect(
      kit.service.rollback(NON_ADMIN, stackId, first!.id),
    ).rejects.toThrow(/only an admin/);
    const restored = await kit.service.rollback(ADMIN, stackId, first!.id);
    expect(restored).toMatchObject({
      serial: 4,
      lineage: "lin-rb",
      isCurrent: true,
      restoredFromId: first!.id,
      createdBy: "user:admin:ops",
      runId: null,
    });
    expect(await kit.service.outputs(stackId)).toEqual([
      { name: "v", value: "one", sensitive: false },
    ]);
    const versions = await versionsOf(stackId);
    expect(versions.map((v) => v.serial)).toEqual([4, 3, 2, 1]);
    expect(versions.filter((v) => v.isCurrent).map((v) => v.id)).toEqual([
      restored.id,
    ]);
    // tofu continues from the rolled-back state: serial 5 is accepted.
    const content = JSON.parse(
      (await kit.service.getVersionContent(stackId, restored.id)).toString(),
    ) as { serial: number };
    expect(content.serial).toBe(4);
    expect(
      (
        await stateRequest(kit, "POST", stackId, {
          creds,
          body: stateFile(5, "lin-rb", { v: { value: "five" } }),
        })
      ).status,
    ).toBe(200);
  });

  it("refuses a rollback while a live run holds the lock", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "x"),
    });
    const [v] = await versionsOf(stackId);
    await stateRequest(kit, "LOCK", stackId, { creds, body: lockInfo("busy") });
    await expect(kit.service.rollback(ADMIN, stackId, v!.id)).rejects.toThrow(
      /locked by run/,
    );
  });

  it("lists outputs of the current state with sensitive values hidden", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    expect(await kit.service.outputs(stackId)).toEqual([]);
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "o", {
        url: { value: "https://example.com" },
        password: { value: "hunter2", sensitive: true },
      }),
    });
    expect(await kit.service.outputs(stackId)).toEqual([
      { name: "password", value: null, sensitive: true },
      { name: "url", value: "https://example.com", sensitive: false },
    ]);
  });

  it("collects orphaned objects older than an hour and expires superseded versions after 30 days", async () => {
    const stackId = await insertStack(kit.db);
    const { creds } = await writer(stackId);
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "h"),
    });
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(2, "h"),
    });
    const [current, old] = await versionsOf(stackId);

    // An upload whose row never came (refused or crashed write), and a fresh one.
    const oldOrphan = `${stackId}/sv_orphan_old.tfstate.enc`;
    const newOrphan = `${stackId}/sv_orphan_new.tfstate.enc`;
    await kit.storage.put(STATES_BUCKET, oldOrphan, "x");
    await kit.storage.put(STATES_BUCKET, newOrphan, "x");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(
      path.join(kit.storageRoot, STATES_BUCKET, oldOrphan),
      twoHoursAgo,
      twoHoursAgo,
    );

    const jobs = stateJobs(kit.service);
    await jobs["state.collectOrphans"]!.handler(
      {},
      { jobId: "1", attempt: 1, log: pino({ level: "silent" }) },
    );
    const keys = (await kit.storage.list(STATES_BUCKET, `${stackId}/`)).map(
      (o) => o.key,
    );
    expect(keys).not.toContain(oldOrphan);
    expect(keys).toContain(newOrphan);
    // Both versions are younger than 30 days: kept.
    expect(await versionsOf(stackId)).toHaveLength(2);

    // 31 days later the superseded version goes, the current one stays, and its
    // object too; the new orphan is now old enough to be collected.
    const later = new Date(Date.now() + 31 * 86_400_000);
    expect(await kit.service.expireVersions(later)).toBeGreaterThanOrEqual(1);
    await kit.service.collectOrphans(later);
    expect((await versionsOf(stackId)).map((v) => v.id)).toEqual([current!.id]);
    expect(
      (await kit.storage.list(STATES_BUCKET, `${stackId}/`)).map((o) => o.key),
    ).toEqual([`${stackId}/${current!.id}.tfstate.enc`]);
    await expect(
      kit.service.getVersionContent(stackId, old!.id),
    ).rejects.toThrow(/no state version/);
  });
});
