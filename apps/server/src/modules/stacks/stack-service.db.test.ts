import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
  providerStackInput,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import { createStacksModule } from "./index.ts";
import { StackLockedError, StackProtectedError } from "./stack-errors.ts";

let t: TestDatabase;
let m: ReturnType<typeof createStacksModule>;
const now = new Date("2025-03-01T12:00:00Z");

beforeAll(async () => {
  t = await createTestDatabase();
  m = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock: () => now,
  });
  await insertSpace(t.db, "team-a");
  await insertSpace(t.db, "team-a-child", "team-a");
  await insertSpace(t.db, "team-b");
});
afterAll(async () => {
  await t?.destroy();
});

describe("creating stacks", () => {
  it("derives the id from the name and uniquifies it on collision", async () => {
    const a = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "Payments API" }),
    );
    const b = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "payments  api!" }),
    );
    const c = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "Payments-API" }),
    );
    expect([a.id, b.id, c.id]).toEqual([
      "payments-api",
      "payments-api-2",
      "payments-api-3",
    ]);
    expect(a).toMatchObject({
      spaceId: "root",
      state: "NONE",
      manageState: true,
      workflowTool: "OPEN_TOFU",
    });
    expect(a.space.name).toBe("root");
  });

  it("uses an explicit slug and refuses a taken one", async () => {
    const s = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "x" }),
      { slug: "custom-slug", manageState: false },
    );
    expect(s).toMatchObject({ id: "custom-slug", manageState: false });
    await expect(
      m.stacks.createStack(ADMIN, providerStackInput(), {
        slug: "custom-slug",
      }),
    ).rejects.toThrow(ConflictError);
    await expect(
      m.stacks.createStack(ADMIN, providerStackInput(), { slug: "Not A Slug" }),
    ).rejects.toThrow("stackCreate slug:");
  });

  it("rejects bad input with the field named", async () => {
    await expect(
      m.stacks.createStack(ADMIN, providerStackInput({ repository: "" })),
    ).rejects.toThrow(
      new ValidationError("stackCreate input.repository: must not be empty"),
    );
    await expect(
      m.stacks.createStack(ADMIN, providerStackInput({ space: "nope" })),
    ).rejects.toThrow(NotFoundError);
    await expect(
      m.stacks.createStack(
        ADMIN,
        providerStackInput({ workerPool: "wp_missing" }),
      ),
    ).rejects.toThrow("worker pool wp_missing not found");
  });

  it("puts a scoped key's stacks in its own space by default", async () => {
    const key = await apiKeySession(t.db, {
      spaceId: "team-a",
      level: "WRITE",
    });
    const s = await m.stacks.createStack(
      key,
      providerStackInput({ name: "team a default" }),
    );
    expect(s.spaceId).toBe("team-a");
  });
});

describe("updating and deleting", () => {
  it("replaces settings, keeping space and vendor when the input leaves them null", async () => {
    const created = await m.stacks.createStack(
      ADMIN,
      providerStackInput({
        name: "upd",
        space: "team-a",
        labels: ["x"],
        vendorConfig: {
          terraform: { workflowTool: "TERRAFORM_FOSS", version: "1.5.7" },
        },
      }),
    );
    const updated = await m.stacks.updateStack(
      ADMIN,
      created.id,
      providerStackInput({
        name: "upd renamed",
        branch: "dev",
        beforeInit: ["echo hi"],
      }),
    );
    expect(updated).toMatchObject({
      id: "upd",
      name: "upd renamed",
      branch: "dev",
      labels: [],
      spaceId: "team-a",
      workflowTool: "TERRAFORM_FOSS",
      toolVersion: "1.5.7",
    });
    expect(updated.hooks.beforeInit).toEqual(["echo hi"]);
  });

  it("refuses to delete a protected stack, then deletes it with its environment", async () => {
    const s = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "prot", protectFromDeletion: true }),
    );
    await m.stacks.addStackConfig(ADMIN, s.id, {
      id: "A",
      type: "ENVIRONMENT_VARIABLE",
      value: "1",
      writeOnly: false,
    });
    await expect(m.stacks.deleteStack(ADMIN, s.id)).rejects.toThrow(
      StackProtectedError,
    );
    await m.stacks.updateStack(
      ADMIN,
      s.id,
      providerStackInput({ name: "prot", protectFromDeletion: false }),
    );
    const deleted = await m.stacks.deleteStack(ADMIN, s.id);
    expect(deleted.id).toBe("prot");
    expect(await m.stacks.findStack(ADMIN, s.id)).toBeNull();
    const left = await t.db
      .selectFrom("config_elements")
      .selectAll()
      .where("owner_id", "=", "prot")
      .execute();
    expect(left).toEqual([]);
    await expect(m.stacks.deleteStack(ADMIN, s.id)).rejects.toThrow(
      "stack prot not found",
    );
  });
});

describe("lock, enable/disable, tracked commit", () => {
  let alice: Session;
  let bob: Session;
  beforeAll(async () => {
    alice = await apiKeySession(t.db, {
      spaceId: "root",
      level: "WRITE",
      name: "alice",
    });
    bob = await apiKeySession(t.db, {
      spaceId: "root",
      level: "WRITE",
      name: "bob",
    });
    await m.stacks.createStack(ADMIN, providerStackInput({ name: "lockable" }));
  });

  it("lets only the holder or an admin unlock", async () => {
    const locked = await m.stacks.lockStack(alice, "lockable", "maintenance");
    expect(locked).toMatchObject({
      lockedBy: `api::${alice.id}`,
      lockedNote: "maintenance",
    });
    await expect(m.stacks.lockStack(bob, "lockable", "")).rejects.toThrow(
      StackLockedError,
    );
    await expect(m.stacks.unlockStack(bob, "lockable")).rejects.toThrow(
      ForbiddenError,
    );
    expect((await m.stacks.unlockStack(alice, "lockable")).lockedBy).toBeNull();
    await expect(m.stacks.unlockStack(alice, "lockable")).rejects.toThrow(
      "stack lockable is not locked",
    );

    await m.stacks.lockStack(bob, "lockable", "");
    expect((await m.stacks.unlockStack(ADMIN, "lockable")).lockedBy).toBeNull();
  });

  it("disables and enables", async () => {
    expect((await m.stacks.disableStack(alice, "lockable")).isDisabled).toBe(
      true,
    );
    expect((await m.stacks.enableStack(alice, "lockable")).isDisabled).toBe(
      false,
    );
  });

  it("stores the tracked commit", async () => {
    const s = await m.stacks.setCurrentCommit(
      alice,
      "lockable",
      "ABCDEF1234567890abcdef1234567890abcdef12",
    );
    expect(s.trackedCommit).toMatchObject({
      sha: "abcdef1234567890abcdef1234567890abcdef12",
      setBy: `api::${alice.id}`,
    });
    await expect(
      m.stacks.setCurrentCommit(alice, "lockable", "main"),
    ).rejects.toThrow(
      "stackSetCurrentCommit sha: must be a hexadecimal git commit sha",
    );
  });
});

describe("environment variables and mounted files", () => {
  beforeAll(async () => {
    await m.stacks.createStack(ADMIN, providerStackInput({ name: "env" }));
  });

  it("returns plain values and replaces on re-add", async () => {
    await m.stacks.addStackConfig(ADMIN, "env", {
      id: "REGION",
      type: "ENVIRONMENT_VARIABLE",
      value: "eu",
      writeOnly: false,
    });
    const el = await m.stacks.addStackConfig(ADMIN, "env", {
      id: "REGION",
      type: "ENVIRONMENT_VARIABLE",
      value: "us",
      writeOnly: false,
      description: "where",
    });
    expect(el).toMatchObject({
      id: "REGION",
      value: "us",
      writeOnly: false,
      description: "where",
    });
    expect(
      (await m.stacks.listStackConfig(ADMIN, "env")).filter(
        (e) => e.id === "REGION",
      ),
    ).toHaveLength(1);
  });

  it("never returns a write-only value and stores only ciphertext", async () => {
    const secret = "hunter2-super-secret";
    const el = await m.stacks.addStackConfig(ADMIN, "env", {
      id: "TOKEN",
      type: "ENVIRONMENT_VARIABLE",
      value: secret,
      writeOnly: true,
    });
    expect(el.value).toBeNull();
    expect(el.checksum).toBe(createHash("sha256").update(secret).digest("hex"));
    expect(
      (await m.stacks.getStackConfigElement(ADMIN, "env", "TOKEN"))?.value,
    ).toBeNull();
    expect(
      (await m.stacks.listStackConfig(ADMIN, "env")).find(
        (e) => e.id === "TOKEN",
      )?.value,
    ).toBeNull();

    const row = await t.db
      .selectFrom("config_elements")
      .selectAll()
      .where("owner_id", "=", "env")
      .where("id", "=", "TOKEN")
      .executeTakeFirstOrThrow();
    expect(row.value_plain).toBeNull();
    expect(row.value_encrypted).not.toContain(secret);
    expect(row.value_encrypted).not.toContain(
      Buffer.from(secret).toString("base64"),
    );

    const effective = await m.stacks.effectiveConfig("env");
    expect(effective.find((e) => e.id === "TOKEN")).toMatchObject({
      value: secret,
      writeOnly: true,
      source: "stack",
    });
  });

  it("checks mounted files: base64, relative path, 2 MB", async () => {
    const content = Buffer.from("key = 1\n").toString("base64");
    const el = await m.stacks.addStackConfig(ADMIN, "env", {
      id: "conf/app.ini",
      type: "FILE_MOUNT",
      value: content,
      writeOnly: false,
    });
    expect(el).toMatchObject({ type: "FILE_MOUNT", value: content });
    const tooBig = Buffer.alloc(2 * 1024 * 1024 + 10).toString("base64");
    await expect(
      m.stacks.addStackConfig(ADMIN, "env", {
        id: "big.bin",
        type: "FILE_MOUNT",
        value: tooBig,
        writeOnly: true,
      }),
    ).rejects.toThrow(
      /^stackConfigAdd config.value: mounted files are limited to 2 MB/,
    );
    await expect(
      m.stacks.addStackConfig(ADMIN, "env", {
        id: "/etc/x",
        type: "FILE_MOUNT",
        value: content,
        writeOnly: false,
      }),
    ).rejects.toThrow(/^stackConfigAdd config.id:/);
  });

  it("deletes, answering null for an element that doesn't exist", async () => {
    expect((await m.stacks.deleteStackConfig(ADMIN, "env", "REGION"))?.id).toBe(
      "REGION",
    );
    expect(await m.stacks.deleteStackConfig(ADMIN, "env", "REGION")).toBeNull();
    await expect(
      m.stacks.deleteStackConfig(ADMIN, "nope", "REGION"),
    ).rejects.toThrow("stack nope not found");
  });
});

describe("access control", () => {
  let readerA: Session;
  let writerA: Session;
  let writerB: Session;
  beforeAll(async () => {
    readerA = await apiKeySession(t.db, { spaceId: "team-a", level: "READ" });
    writerA = await apiKeySession(t.db, { spaceId: "team-a", level: "WRITE" });
    writerB = await apiKeySession(t.db, { spaceId: "team-b", level: "WRITE" });
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "in-a", space: "team-a" }),
    );
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "in-a-child", space: "team-a-child" }),
    );
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "in-b", space: "team-b" }),
    );
  });

  it("lets a READ key see but not change", async () => {
    expect((await m.stacks.getStack(readerA, "in-a")).id).toBe("in-a");
    expect(await m.stacks.canWrite(readerA, { spaceId: "team-a" })).toBe(false);
    await expect(m.stacks.lockStack(readerA, "in-a", "")).rejects.toThrow(
      ForbiddenError,
    );
    await expect(
      m.stacks.updateStack(readerA, "in-a", providerStackInput({ name: "x" })),
    ).rejects.toThrow(ForbiddenError);
    await expect(
      m.stacks.addStackConfig(readerA, "in-a", {
        id: "X",
        type: "ENVIRONMENT_VARIABLE",
        value: "1",
        writeOnly: false,
      }),
    ).rejects.toThrow(ForbiddenError);
    await expect(
      m.stacks.createStack(readerA, providerStackInput({ name: "nope" })),
    ).rejects.toThrow(ForbiddenError);
  });

  it("covers descendant spaces", async () => {
    expect((await m.stacks.getStack(readerA, "in-a-child")).spaceId).toBe(
      "team-a-child",
    );
    expect(
      (await m.stacks.disableStack(writerA, "in-a-child")).isDisabled,
    ).toBe(true);
  });

  it("hides other spaces' stacks as not found", async () => {
    expect(await m.stacks.findStack(writerB, "in-a")).toBeNull();
    await expect(m.stacks.getStack(writerB, "in-a")).rejects.toThrow(
      "stack in-a not found",
    );
    await expect(m.stacks.deleteStack(writerB, "in-a")).rejects.toThrow(
      NotFoundError,
    );
    await expect(m.stacks.lockStack(writerB, "in-a", "")).rejects.toThrow(
      NotFoundError,
    );
    await expect(
      m.stacks.createStack(
        writerB,
        providerStackInput({ name: "sneaky", space: "team-a" }),
      ),
    ).rejects.toThrow(NotFoundError);
    // Moving a visible stack into a hidden space is refused the same way.
    await expect(
      m.stacks.updateStack(
        writerB,
        "in-b",
        providerStackInput({ name: "in-b", space: "team-a" }),
      ),
    ).rejects.toThrow("space team-a not found");
  });

  it("lists only visible stacks", async () => {
    const ids = (await m.stacks.listStacks(writerB)).map((s) => s.id);
    expect(ids).toEqual(["in-b"]);
    const a = (await m.stacks.listStacks(readerA)).map((s) => s.id);
    expect(a).toContain("in-a");
    expect(a).toContain("in-a-child");
    expect(a).not.toContain("in-b");
  });

  it("treats a deleted key as seeing nothing", async () => {
    const key = await apiKeySession(t.db, { spaceId: "root", level: "ADMIN" });
    await t.db
      .updateTable("api_keys")
      .set({ deleted_at: new Date() })
      .where("id", "=", key.id)
      .execute();
    expect(await m.stacks.findStack(key, "in-b")).toBeNull();
  });
});

describe("stack state", () => {
  it("is the state of the latest tracked run, NONE without one", async () => {
    await m.stacks.createStack(ADMIN, providerStackInput({ name: "stateful" }));
    expect((await m.stacks.getStack(ADMIN, "stateful")).state).toBe("NONE");
    const run = (
      id: string,
      type: "TRACKED" | "PROPOSED",
      state: string,
      at: string,
    ) => ({
      id,
      stack_id: "stateful",
      type,
      blocking: type === "TRACKED",
      state,
      created_at: new Date(at),
      updated_at: new Date(at),
    });
    await t.db
      .insertInto("runs")
      .values([
        run("run_1", "TRACKED", "FINISHED", "2025-01-01T00:00:00Z"),
        run("run_2", "TRACKED", "UNCONFIRMED", "2025-01-02T00:00:00Z"),
        run("run_3", "PROPOSED", "FAILED", "2025-01-03T00:00:00Z"),
        run("run_4", "TRACKED", "CANCELED", "2025-01-04T00:00:00Z"),
      ])
      .execute();
    await t.db
      .insertInto("run_transitions")
      .values({
        run_id: "run_2",
        state_version: 1,
        state: "UNCONFIRMED",
        created_at: new Date("2025-01-02T00:05:00Z"),
      })
      .execute();
    const s = await m.stacks.getStack(ADMIN, "stateful");
    expect(s.state).toBe("UNCONFIRMED");
    expect(s.stateSetAt).toEqual(new Date("2025-01-02T00:05:00Z"));
  });
});
