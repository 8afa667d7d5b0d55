import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStateApiKit,
  type StateApiKit,
} from "../../../test/state-api-kit.ts";
import {
  insertRun,
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
 * The web UI's state history over GraphQL: `Stack.stackyardStateVersions` (paged),
 * `stackyardStateVersionDownloadUrl` and `stackyardStateRollback`, with the permission
 * checks of the REST routes. Real Postgres, filesystem storage, raw HTTP.
 */

let kit: StateApiKit;
let n = 0;

beforeAll(async () => {
  kit = await createStateApiKit();
  await insertSpace(kit.db, "sg-team");
  await insertSpace(kit.db, "sg-other");
});
afterAll(async () => {
  await kit?.close();
});

async function newStack(space = "sg-team"): Promise<string> {
  const stack = await kit.stacks.stacks.createStack(
    ADMIN,
    providerStackInput({ name: `sg-stack-${++n}`, space }),
  );
  return stack.id;
}

async function writeStates(stackId: string, serials: number[]) {
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
      body: stateFile(serial, "lin-gql", { v: { value: `s${serial}` } }),
    });
    expect(res.status).toBe(200);
  }
  await setRunState(kit.db, runId, "FINISHED");
  return runId;
}

interface VersionNode {
  id: string;
  serial: number;
  lineage: string;
  createdAt: number;
  runId: string | null;
  createdBy: string | null;
  size: number;
  restoredFromId: string | null;
  isCurrent: boolean;
}

const VERSIONS = `query($stack:ID!$first:Int$after:ID){stack(id: $stack){stackyardStateVersions(first: $first, after: $after){nodes{id,serial,lineage,createdAt,runId,createdBy,size,restoredFromId,isCurrent},pageInfo{endCursor,hasNextPage}}}}`;
const ROLLBACK = `mutation($stack:ID!$version:ID!){stackyardStateRollback(stack: $stack, version: $version){id,serial,restoredFromId,isCurrent,createdBy}}`;
const DOWNLOAD = `mutation($stack:ID!$version:ID!){stackyardStateVersionDownloadUrl(stack: $stack, version: $version){url}}`;

async function versions(
  stackId: string,
  vars: { first?: number; after?: string | null } = {},
  token?: string,
) {
  return kit.gql<{
    stack: {
      stackyardStateVersions: {
        nodes: VersionNode[];
        pageInfo: { endCursor: string | null; hasNextPage: boolean };
      };
    } | null;
  }>(VERSIONS, { stack: stackId, ...vars }, token);
}

describe("Stack.stackyardStateVersions", () => {
  it("lists versions newest first and pages with the end cursor", async () => {
    const stackId = await newStack();
    const runId = await writeStates(stackId, [1, 2, 3]);

    const first = await versions(stackId, { first: 2 });
    expect(first.errors).toBeUndefined();
    const page1 = first.data!.stack!.stackyardStateVersions;
    expect(page1.nodes.map((v) => v.serial)).toEqual([3, 2]);
    expect(page1.nodes[0]).toMatchObject({
      lineage: "lin-gql",
      runId,
      isCurrent: true,
      restoredFromId: null,
    });
    expect(page1.nodes[0]!.size).toBeGreaterThan(0);
    expect(page1.nodes[0]!.createdAt).toBeGreaterThan(1_600_000_000);
    expect(page1.nodes[1]!.isCurrent).toBe(false);
    expect(page1.pageInfo).toEqual({
      endCursor: page1.nodes[1]!.id,
      hasNextPage: true,
    });

    const second = await versions(stackId, {
      first: 2,
      after: page1.pageInfo.endCursor,
    });
    const page2 = second.data!.stack!.stackyardStateVersions;
    expect(page2.nodes.map((v) => v.serial)).toEqual([1]);
    expect(page2.pageInfo.hasNextPage).toBe(false);
  });

  it("refuses a bad page size or cursor with a message naming it", async () => {
    const stackId = await newStack();
    await writeStates(stackId, [1]);
    const big = await versions(stackId, { first: 500 });
    expect(big.errors?.[0]).toMatchObject({
      message: expect.stringContaining(
        "first must be an integer from 1 to 100",
      ),
      extensions: { code: "BAD_USER_INPUT" },
    });
    const cursor = await versions(stackId, { after: "sv_nope" });
    expect(cursor.errors?.[0]?.message).toContain(
      "has no state version sv_nope",
    );
  });

  it("hides the stack from a caller of another space", async () => {
    const stackId = await newStack();
    await writeStates(stackId, [1]);
    const outsider = await kit.apiKey("sg-other", "ADMIN");
    const res = await versions(stackId, {}, outsider.token);
    expect(res.data?.stack ?? null).toBeNull();
  });
});

describe("stackyardStateVersionDownloadUrl", () => {
  it("serves the chosen version to a writer and refuses a reader", async () => {
    const stackId = await newStack();
    await writeStates(stackId, [1, 2]);
    const nodes = (await versions(stackId)).data!.stack!.stackyardStateVersions
      .nodes;
    const older = nodes.find((v) => v.serial === 1)!;

    const writer = await kit.apiKey("sg-team", "WRITE");
    const res = await kit.gql<{
      stackyardStateVersionDownloadUrl: { url: string };
    }>(DOWNLOAD, { stack: stackId, version: older.id }, writer.token);
    expect(res.errors).toBeUndefined();
    const file = await fetch(res.data!.stackyardStateVersionDownloadUrl.url);
    expect(file.status).toBe(200);
    expect(await file.json()).toMatchObject({ serial: 1, lineage: "lin-gql" });

    const reader = await kit.apiKey("sg-team", "READ");
    const refused = await kit.gql(
      DOWNLOAD,
      { stack: stackId, version: older.id },
      reader.token,
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

describe("stackyardStateRollback", () => {
  it("needs the stack locked by an admin caller, then restores the version as the new current one", async () => {
    const stackId = await newStack();
    await writeStates(stackId, [1, 2]);
    const nodes = (await versions(stackId)).data!.stack!.stackyardStateVersions
      .nodes;
    const older = nodes.find((v) => v.serial === 1)!;
    const admin = await kit.apiKey("sg-team", "ADMIN");

    const unlocked = await kit.gql(
      ROLLBACK,
      { stack: stackId, version: older.id },
      admin.token,
    );
    expect(unlocked.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`lock stack ${stackId} first`),
      extensions: { code: "CONFLICT" },
    });

    const locked = await kit.gql(
      "mutation($stack:ID!){stackLock(id: $stack){id}}",
      { stack: stackId },
      admin.token,
    );
    expect(locked.errors).toBeUndefined();
    const writer = await kit.apiKey("sg-team", "WRITE");
    const notAdmin = await kit.gql(
      ROLLBACK,
      { stack: stackId, version: older.id },
      writer.token,
    );
    expect(notAdmin.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");

    const ok = await kit.gql<{
      stackyardStateRollback: {
        id: string;
        serial: number;
        restoredFromId: string;
        isCurrent: boolean;
        createdBy: string;
      };
    }>(ROLLBACK, { stack: stackId, version: older.id }, admin.token);
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.stackyardStateRollback).toMatchObject({
      serial: 3,
      restoredFromId: older.id,
      isCurrent: true,
      createdBy: `api_key:${admin.id}`,
    });
    const after = (await versions(stackId)).data!.stack!.stackyardStateVersions
      .nodes;
    expect(after[0]).toMatchObject({
      id: ok.data!.stackyardStateRollback.id,
      isCurrent: true,
    });
    expect(after.filter((v) => v.isCurrent)).toHaveLength(1);
  });
});
