import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStateApiKit,
  type StateApiKit,
} from "../../../test/state-api-kit.ts";
import {
  insertRun,
  lockInfo,
  setRunState,
  stateFile,
  stateRequest,
} from "../../../test/state-kit.ts";
import {
  ADMIN,
  insertSpace,
  providerStackInput,
} from "../../../test/stacks-fixtures.ts";

/**
 * State operations through the API: GraphQL stateDownloadUrl / stateUploadUrl /
 * stackCreate(stackObjectID), the REST routes under /api/v1/stacks/:id/state, the
 * pre-signed transfer routes, and external state access on the backend. Real Postgres,
 * filesystem storage, raw HTTP.
 */

let kit: StateApiKit;
let n = 0;

beforeAll(async () => {
  kit = await createStateApiKit({ uploadLimitBytes: 4096 });
  await insertSpace(kit.db, "sa-team");
  await insertSpace(kit.db, "sa-child", "sa-team");
  await insertSpace(kit.db, "sa-other");
});
afterAll(async () => {
  await kit?.close();
});

async function newStack(space = "root"): Promise<string> {
  const stack = await kit.stacks.stacks.createStack(
    ADMIN,
    providerStackInput({ name: `sa-stack-${++n}`, space }),
  );
  return stack.id;
}

/** Writes `serials` through the real backend as one tracked run; returns the run id. */
async function writeStates(
  stackId: string,
  serials: number[],
  lineage = "lin-api",
): Promise<string> {
  const runId = await insertRun(kit.db, { stackId, state: "APPLYING" });
  const creds = await kit.state.issueStateCredentials({
    runId,
    stackId,
    scope: "write",
    ttlSeconds: 600,
  });
  for (const serial of serials) {
    const res = await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(serial, lineage, { v: { value: `s${serial}` } }),
    });
    expect(res.status).toBe(200);
  }
  await setRunState(kit.db, runId, "FINISHED");
  return runId;
}

async function uploadUrl(token: string | null = kit.adminToken) {
  const res = await kit.gql<{
    stateUploadUrl: { objectId: string; url: string };
  }>("mutation{stateUploadUrl{objectId,url}}", undefined, token);
  expect(res.errors).toBeUndefined();
  return res.data!.stateUploadUrl;
}

async function put(url: string, body: string | Buffer) {
  const res = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body,
  });
  return { status: res.status, body: (await res.json()) as never };
}

async function uploadState(
  body: string,
  token: string | null = kit.adminToken,
): Promise<string> {
  const { objectId, url } = await uploadUrl(token);
  expect((await put(url, body)).status).toBe(200);
  return objectId;
}

async function lockStack(stackId: string, token = kit.adminToken) {
  const res = await kit.gql(
    "mutation($note:String!$stack:ID!){stackLock(id: $stack, note: $note){id}}",
    { stack: stackId, note: "" },
    token,
  );
  expect(res.errors).toBeUndefined();
}

const versionsPath = (id: string) => `/api/v1/stacks/${id}/state/versions`;
const actionPath = (id: string, action: string) =>
  `/api/v1/stacks/${id}/state/${action}`;

describe("stateDownloadUrl", () => {
  it("returns a URL that serves the current state without a bearer, and expires", async () => {
    const stackId = await newStack();
    await writeStates(stackId, [1, 2]);
    const res = await kit.gql<{ stateDownloadUrl: { url: string } }>(
      "mutation($input: StateDownloadUrlInput!){stateDownloadUrl(input: $input){url}}",
      { input: { stackId } },
    );
    expect(res.errors).toBeUndefined();
    const { url } = res.data!.stateDownloadUrl;
    expect(url.startsWith(`${kit.url}/state-download/`)).toBe(true);
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe(
      stateFile(2, "lin-api", { v: { value: "s2" } }),
    );

    kit.clockOffset.ms = 6 * 60_000;
    try {
      const late = await fetch(url);
      expect(late.status).toBe(401);
      expect(((await late.json()) as { message: string }).message).toMatch(
        /expired/,
      );
    } finally {
      kit.clockOffset.ms = 0;
    }
    const forged = await fetch(`${url.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(401);
  });

  it("downloads a given version over REST, and needs a session and write access", async () => {
    const stackId = await newStack("sa-team");
    await writeStates(stackId, [1, 2, 3]);
    const versions = (await kit.rest("GET", versionsPath(stackId))).body
      .versions as Array<{ id: string; serial: number }>;
    const first = versions.find((v) => v.serial === 1)!;
    const link = await kit.rest("POST", actionPath(stackId, "download-url"), {
      body: { versionId: first.id },
    });
    expect(link.status).toBe(200);
    const got = await fetch(link.body.url as string);
    expect(JSON.parse(await got.text())).toMatchObject({ serial: 1 });

    const anonymous = await kit.gql(
      "mutation($input: StateDownloadUrlInput!){stateDownloadUrl(input: $input){url}}",
      { input: { stackId } },
      null,
    );
    expect(anonymous.errors?.[0]?.message).toBe("unauthorized");
    const reader = await kit.apiKey("sa-team", "READ");
    const refused = await kit.rest(
      "POST",
      actionPath(stackId, "download-url"),
      {
        token: reader.token,
      },
    );
    expect(refused.status).toBe(403);
    const outsider = await kit.apiKey("sa-other", "ADMIN");
    const hidden = await kit.gql(
      "mutation($input: StateDownloadUrlInput!){stateDownloadUrl(input: $input){url}}",
      { input: { stackId } },
      outsider.token,
    );
    expect(hidden.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("says so when the stack has no state yet", async () => {
    const stackId = await newStack();
    const res = await kit.gql(
      "mutation($input: StateDownloadUrlInput!){stateDownloadUrl(input: $input){url}}",
      { input: { stackId } },
    );
    expect(res.errors?.[0]?.message).toMatch(/has no state yet/);
  });
});

describe("stateUploadUrl", () => {
  it("accepts a PUT up to the limit once, and refuses a larger one with 413", async () => {
    const { objectId, url } = await uploadUrl();
    expect(objectId).toMatch(/^[0-9a-z]{26}$/);
    expect(url.startsWith(`${kit.url}/uploads/`)).toBe(true);
    const ok = await put(url, "x".repeat(kit.uploadLimitBytes));
    expect(ok).toEqual({
      status: 200,
      body: { objectId, size: kit.uploadLimitBytes },
    });
    const again = await put(url, "{}");
    expect(again.status).toBe(409);

    const big = await uploadUrl();
    const tooLarge = await put(big.url, "x".repeat(kit.uploadLimitBytes + 1));
    expect(tooLarge.status).toBe(413);
    expect((tooLarge.body as { message: string }).message).toMatch(
      /limited to 4096 bytes/,
    );
  });

  it("needs a session to hand out a URL, and a valid token to accept a PUT", async () => {
    const res = await kit.gql(
      "mutation{stateUploadUrl{objectId,url}}",
      undefined,
      null,
    );
    expect(res.errors?.[0]?.message).toBe("unauthorized");
    expect((await put(`${kit.url}/uploads/not-a-token`, "{}")).status).toBe(
      401,
    );
  });
});

describe("importing a state", () => {
  const CREATE = `mutation($input:StackInput!$manageState:Boolean!$slug:String$stackObjectID:String){stackCreate(input: $input, manageState: $manageState, stackObjectID: $stackObjectID, slug: $slug){id}}`;

  it("imports at stack creation (stackCreate stackObjectID)", async () => {
    const objectId = await uploadState(stateFile(7, "lin-imported"));
    const res = await kit.gql<{ stackCreate: { id: string } }>(CREATE, {
      input: providerStackInput({ name: "imported-at-creation" }),
      manageState: true,
      slug: null,
      stackObjectID: objectId,
    });
    expect(res.errors).toBeUndefined();
    const stackId = res.data!.stackCreate.id;
    const { body } = await kit.rest("GET", versionsPath(stackId));
    expect(body.versions).toEqual([
      expect.objectContaining({
        serial: 7,
        lineage: "lin-imported",
        isCurrent: true,
        runId: null,
        createdBy: "user:admin:admin",
      }),
    ]);
    // The upload is consumed.
    const again = await kit.gql(CREATE, {
      input: providerStackInput({ name: "imported-twice" }),
      manageState: true,
      slug: null,
      stackObjectID: objectId,
    });
    expect(again.errors?.[0]?.message).toMatch(/no uploaded state/);
  });

  it("refuses a file that is not a state, with a clear message, and creates no stack", async () => {
    const objectId = await uploadState(JSON.stringify({ hello: "world" }));
    const res = await kit.gql(CREATE, {
      input: providerStackInput({ name: "never-created" }),
      manageState: true,
      slug: "never-created",
      stackObjectID: objectId,
    });
    expect(res.errors?.[0]?.message).toMatch(
      /not an OpenTofu\/Terraform state: .*serial/,
    );
    expect(await kit.stacks.stacks.loadStack("never-created")).toBeNull();
  });

  it("imports later over REST: stack locked by the caller, no unfinished runs", async () => {
    const stackId = await newStack();
    await writeStates(stackId, [1, 2], "lin-old");
    const objectId = await uploadState(stateFile(1, "lin-new"));

    const unlocked = await kit.rest("POST", actionPath(stackId, "import"), {
      body: { objectId },
    });
    expect(unlocked.status).toBe(409);
    expect(unlocked.body.message).toMatch(/lock stack .* first/);

    await lockStack(stackId);
    const runId = await insertRun(kit.db, { stackId, state: "QUEUED" });
    const pending = await kit.rest("POST", actionPath(stackId, "import"), {
      body: { objectId },
    });
    expect(pending.status).toBe(409);
    expect(pending.body.message).toContain(runId);
    await setRunState(kit.db, runId, "CANCELED");

    const ok = await kit.rest("POST", actionPath(stackId, "import"), {
      body: { objectId },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.version).toMatchObject({
      serial: 1,
      lineage: "lin-new",
      isCurrent: true,
    });
    const { body } = await kit.rest("GET", versionsPath(stackId));
    expect(
      (body.versions as Array<{ serial: number; lineage: string }>).map(
        (v) => `${v.lineage}:${v.serial}`,
      ),
    ).toEqual(["lin-new:1", "lin-old:2", "lin-old:1"]);
    expect(kit.logs.some((l) => l.msg === "imported state")).toBe(true);
  });

  it("refuses non-state JSON later too, and a lock held by someone else", async () => {
    const stackId = await newStack("sa-team");
    const admin = await kit.apiKey("sa-team", "ADMIN");
    await lockStack(stackId);
    const objectId = await uploadState("[1,2,3]", admin.token);
    const byOther = await kit.rest("POST", actionPath(stackId, "import"), {
      token: admin.token,
      body: { objectId },
    });
    expect(byOther.status).toBe(409);
    expect(byOther.body.message).toMatch(/locked by admin, not by you/);

    const stack2 = await newStack("sa-team");
    await lockStack(stack2, admin.token);
    const bad = await kit.rest("POST", actionPath(stack2, "import"), {
      token: admin.token,
      body: { objectId },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(
      /not an OpenTofu\/Terraform state: the state must be a JSON object/,
    );
  });
});

describe("access control", () => {
  it("a READ key sees history but cannot import, roll back or force-unlock; another space sees nothing", async () => {
    const stackId = await newStack("sa-team");
    await writeStates(stackId, [1, 2]);
    const reader = await kit.apiKey("sa-team", "READ");
    const writer = await kit.apiKey("sa-team", "WRITE");
    const outsider = await kit.apiKey("sa-other", "ADMIN");

    const history = await kit.rest("GET", versionsPath(stackId), {
      token: reader.token,
    });
    expect(history.status).toBe(200);
    const versions = history.body.versions as Array<{ id: string }>;
    expect(versions).toHaveLength(2);

    const objectId = await uploadState(stateFile(1, "x"), reader.token);
    for (const [action, body] of [
      ["import", { objectId }],
      ["rollback", { versionId: versions[1]!.id }],
      ["force-unlock", {}],
    ] as const) {
      for (const key of [reader, writer]) {
        const res = await kit.rest("POST", actionPath(stackId, action), {
          token: key.token,
          body,
        });
        expect(res.status, `${action} by ${key.id}`).toBe(403);
      }
      const hidden = await kit.rest("POST", actionPath(stackId, action), {
        token: outsider.token,
        body,
      });
      expect(hidden.status).toBe(404);
    }
    const hiddenHistory = await kit.rest("GET", versionsPath(stackId), {
      token: outsider.token,
    });
    expect(hiddenHistory.status).toBe(404);
    expect(
      (await kit.rest("GET", versionsPath(stackId), { token: null })).status,
    ).toBe(401);
  });
});

describe("rollback", () => {
  it("needs the stack locked by the caller and no unfinished runs", async () => {
    const stackId = await newStack("sa-team");
    await writeStates(stackId, [1, 2, 3], "lin-rb");
    const admin = await kit.apiKey("sa-team", "ADMIN");
    const { body } = await kit.rest("GET", versionsPath(stackId));
    const first = (body.versions as Array<{ id: string; serial: number }>).find(
      (v) => v.serial === 1,
    )!;

    const unlocked = await kit.rest("POST", actionPath(stackId, "rollback"), {
      token: admin.token,
      body: { versionId: first.id },
    });
    expect(unlocked.status).toBe(409);
    await lockStack(stackId, admin.token);
    const runId = await insertRun(kit.db, { stackId, state: "UNCONFIRMED" });
    const pending = await kit.rest("POST", actionPath(stackId, "rollback"), {
      token: admin.token,
      body: { versionId: first.id },
    });
    expect(pending.status).toBe(409);
    expect(pending.body.message).toMatch(/runs that have not finished/);
    await setRunState(kit.db, runId, "DISCARDED");

    const ok = await kit.rest("POST", actionPath(stackId, "rollback"), {
      token: admin.token,
      body: { versionId: first.id },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.version).toMatchObject({
      serial: 4,
      lineage: "lin-rb",
      restoredFromId: first.id,
      createdBy: `api_key:${admin.id}`,
      isCurrent: true,
    });
    const missing = await kit.rest("POST", actionPath(stackId, "rollback"), {
      token: admin.token,
      body: { versionId: "sv_nope" },
    });
    expect(missing.status).toBe(404);
  });
});

describe("force-unlock and history", () => {
  it("force-unlocks a stuck lock, audited, and lists history with the lock", async () => {
    const stackId = await newStack("sa-team");
    const runId = await insertRun(kit.db, { stackId, state: "APPLYING" });
    const creds = await kit.state.issueStateCredentials({
      runId,
      stackId,
      scope: "write",
      ttlSeconds: 600,
    });
    await stateRequest(kit, "POST", stackId, {
      creds,
      body: stateFile(1, "lin-fu"),
    });
    expect(
      (
        await stateRequest(kit, "LOCK", stackId, {
          creds,
          body: lockInfo("stuck"),
        })
      ).status,
    ).toBe(200);

    const history = await kit.rest("GET", versionsPath(stackId));
    expect(history.status).toBe(200);
    expect(history.body.lock).toMatchObject({
      lockId: "stuck",
      runId,
      stale: false,
    });
    const [v] = history.body.versions as Array<Record<string, unknown>>;
    expect(Object.keys(v!).sort()).toEqual(
      [
        "checksum",
        "createdAt",
        "createdBy",
        "id",
        "isCurrent",
        "lineage",
        "restoredFromId",
        "runId",
        "serial",
        "size",
      ].sort(),
    );
    expect(v).toMatchObject({ serial: 1, runId, isCurrent: true });

    const admin = await kit.apiKey("sa-team", "ADMIN");
    const res = await kit.rest("POST", actionPath(stackId, "force-unlock"), {
      token: admin.token,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      unlocked: true,
      lock: { lockId: "stuck", runId },
    });
    expect(
      kit.logs.find(
        (l) =>
          l.msg === "force-unlocked state" &&
          l.stackId === stackId &&
          l.actor === `api_key:${admin.id}`,
      ),
    ).toBeDefined();
    expect((await kit.rest("GET", versionsPath(stackId))).body.lock).toBeNull();
    const again = await kit.rest("POST", actionPath(stackId, "force-unlock"));
    expect(again.body).toEqual({ unlocked: false, lock: null });
  });
});

describe("external state access", () => {
  async function readerCreds(stackId: string, state = "PLANNING") {
    const runId = await insertRun(kit.db, { stackId, state });
    return kit.state.issueStateCredentials({
      runId,
      stackId,
      scope: "write",
      ttlSeconds: 600,
    });
  }

  it("lets runs of stacks in the same space or below read (GET only) when enabled", async () => {
    const target = await newStack("sa-team");
    await writeStates(target, [1], "lin-ext");
    const sibling = await newStack("sa-team");
    const below = await newStack("sa-child");
    const other = await newStack("sa-other");
    const siblingCreds = await readerCreds(sibling);

    const off = await stateRequest(kit, "GET", target, { creds: siblingCreds });
    expect(off.status).toBe(403);
    expect(off.text).toMatch(/does not allow external state access/);

    await kit.db
      .updateTable("stacks")
      .set({ external_state_access: true })
      .where("id", "=", target)
      .execute();

    for (const reader of [sibling, below]) {
      const creds =
        reader === sibling ? siblingCreds : await readerCreds(below);
      const got = await stateRequest(kit, "GET", target, { creds });
      expect(got.status, reader).toBe(200);
      expect(JSON.parse(got.text)).toMatchObject({ lineage: "lin-ext" });
    }
    // Read only: no write, no lock.
    const post = await stateRequest(kit, "POST", target, {
      creds: siblingCreds,
      body: stateFile(2, "lin-ext"),
    });
    expect(post.status).toBe(403);
    expect(post.text).toMatch(/read-only/);
    const lock = await stateRequest(kit, "LOCK", target, {
      creds: siblingCreds,
      body: lockInfo("ext", "OperationTypePlan"),
    });
    expect(lock.status).toBe(403);

    // Another space (not the target's or below it) is refused.
    const denied = await stateRequest(kit, "GET", target, {
      creds: await readerCreds(other),
    });
    expect(denied.status).toBe(403);
    expect(denied.text).toMatch(/not in space sa-team/);

    // The run must still be live.
    const done = await readerCreds(sibling, "FINISHED");
    expect(
      (await stateRequest(kit, "GET", target, { creds: done })).status,
    ).toBe(403);
  });
});
