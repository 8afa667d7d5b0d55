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
import { createStacksModule } from "./index.ts";
import { emptyHooks } from "./stack.ts";

let t: TestDatabase;
let m: ReturnType<typeof createStacksModule>;
const now = new Date("2025-03-01T12:00:00Z");
const env = (id: string, value: string, writeOnly = false) => ({
  id,
  type: "ENVIRONMENT_VARIABLE" as const,
  value,
  writeOnly,
});

beforeAll(async () => {
  t = await createTestDatabase();
  m = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock: () => now,
  });
  await insertSpace(t.db, "team-a");
  await insertSpace(t.db, "team-b");
});
afterAll(async () => {
  await t?.destroy();
});

describe("contexts", () => {
  it("creates with a unique slug id, updates and deletes", async () => {
    const a = await m.contexts.createContext(ADMIN, {
      name: "AWS Creds",
      labels: ["x"],
      hooks: null,
      description: null,
      space: null,
    });
    const b = await m.contexts.createContext(ADMIN, { name: "aws creds" });
    expect([a.id, b.id]).toEqual(["aws-creds", "aws-creds-2"]);
    const u = await m.contexts.updateContext(ADMIN, b.id, {
      name: "renamed",
      description: "d",
      hooks: { ...emptyHooks(), beforeInit: ["echo ctx"] },
      labels: null,
      space: "team-a",
    });
    expect(u).toMatchObject({
      id: "aws-creds-2",
      name: "renamed",
      spaceId: "team-a",
      labels: [],
    });
    expect(u.hooks.beforeInit).toEqual(["echo ctx"]);
    await m.contexts.addContextConfig(ADMIN, b.id, env("K", "v"));
    expect((await m.contexts.deleteContext(ADMIN, b.id)).id).toBe(
      "aws-creds-2",
    );
    await expect(m.contexts.getContext(ADMIN, b.id)).rejects.toThrow(
      "context aws-creds-2 not found",
    );
    expect(
      await t.db
        .selectFrom("config_elements")
        .selectAll()
        .where("owner_id", "=", b.id)
        .execute(),
    ).toEqual([]);
    await expect(
      m.contexts.createContext(ADMIN, { name: " " }),
    ).rejects.toThrow("contextCreateV2 input.name: must not be empty");
  });

  it("attaches once per pair and detaches by attachment id", async () => {
    await m.stacks.createStack(ADMIN, providerStackInput({ name: "app" }));
    const ctx = await m.contexts.createContext(ADMIN, { name: "shared" });
    const att = await m.contexts.attachContext(ADMIN, ctx.id, "app", 3);
    expect(att).toMatchObject({
      contextId: "shared",
      stackId: "app",
      stackName: "app",
      priority: 3,
      isAutoattached: false,
    });
    await expect(
      m.contexts.attachContext(ADMIN, ctx.id, "app", 1),
    ).rejects.toThrow(ConflictError);
    await expect(
      m.contexts.attachContext(ADMIN, ctx.id, "app", -1),
    ).rejects.toThrow(ValidationError);
    await expect(
      m.contexts.attachContext(ADMIN, ctx.id, "missing", 1),
    ).rejects.toThrow("stack missing not found");
    expect((await m.contexts.attachmentOf(ADMIN, ctx.id, "app"))?.id).toBe(
      att.id,
    );
    expect((await m.contexts.detachContext(ADMIN, att.id)).id).toBe(att.id);
    expect(await m.contexts.attachmentOf(ADMIN, ctx.id, "app")).toBeNull();
    await expect(m.contexts.detachContext(ADMIN, att.id)).rejects.toThrow(
      NotFoundError,
    );
  });

  it("enforces space access on contexts and attachments", async () => {
    const ctxB = await m.contexts.createContext(ADMIN, {
      name: "b-secret",
      space: "team-b",
    });
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "a-stack", space: "team-a" }),
    );
    const writerA = await apiKeySession(t.db, {
      spaceId: "team-a",
      level: "WRITE",
    });
    const readerA = await apiKeySession(t.db, {
      spaceId: "team-a",
      level: "READ",
    });
    expect(await m.contexts.findContext(writerA, ctxB.id)).toBeNull();
    await expect(
      m.contexts.attachContext(writerA, ctxB.id, "a-stack", 0),
    ).rejects.toThrow("context b-secret not found");
    const ctxA = await m.contexts.createContext(writerA, { name: "a-ctx" });
    expect(ctxA.spaceId).toBe("team-a");
    await expect(
      m.contexts.addContextConfig(readerA, ctxA.id, env("X", "1")),
    ).rejects.toThrow(ForbiddenError);
    await expect(
      m.contexts.attachContext(readerA, ctxA.id, "a-stack", 0),
    ).rejects.toThrow(ForbiddenError);
  });
});

describe("effective environment", () => {
  it("merges stack, attached and auto-attached contexts with their sources", async () => {
    await insertSpace(t.db, "env-space");
    await insertSpace(t.db, "env-child", "env-space", { inherit: true });
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({
        name: "svc",
        space: "env-child",
        labels: ["prod"],
        beforeInit: ["stack-bi"],
      }),
    );
    await m.stacks.addStackConfig(ADMIN, "svc", env("SHARED", "stack"));

    const low = await m.contexts.createContext(ADMIN, {
      name: "low",
      space: "env-space",
      hooks: { ...emptyHooks(), beforeInit: ["low-bi"] },
    });
    const high = await m.contexts.createContext(ADMIN, {
      name: "high",
      space: "env-space",
      hooks: { ...emptyHooks(), beforeInit: ["high-bi"] },
    });
    const auto = await m.contexts.createContext(ADMIN, {
      name: "auto prod",
      space: "env-space",
      labels: ["autoattach:prod"],
      hooks: {
        ...emptyHooks(),
        beforeInit: ["auto-bi"],
        afterApply: ["auto-aa"],
      },
    });
    const elsewhere = await m.contexts.createContext(ADMIN, {
      name: "elsewhere",
      space: "team-b",
      labels: ["autoattach:*"],
    });
    await m.contexts.attachContext(ADMIN, low.id, "svc", 1);
    await m.contexts.attachContext(ADMIN, high.id, "svc", 7);
    await m.contexts.addContextConfig(ADMIN, low.id, env("SHARED", "low"));
    await m.contexts.addContextConfig(ADMIN, low.id, env("PICK", "low"));
    await m.contexts.addContextConfig(ADMIN, high.id, env("PICK", "high"));
    await m.contexts.addContextConfig(ADMIN, high.id, env("ONLY_HIGH", "high"));
    await m.contexts.addContextConfig(ADMIN, auto.id, env("PICK", "auto"));
    await m.contexts.addContextConfig(
      ADMIN,
      auto.id,
      env("AUTO_SECRET", "s3cr3t", true),
    );
    await m.contexts.addContextConfig(ADMIN, elsewhere.id, env("LEAK", "no"));

    const effective = await m.stacks.effectiveConfig("svc", {
      SHARED: "runtime",
    });
    expect(effective.map((e) => [e.id, e.value, e.source])).toEqual([
      ["SHARED", "runtime", "runtime"],
      ["PICK", "low", "context:low"],
      ["ONLY_HIGH", "high", "context:high"],
      ["AUTO_SECRET", "s3cr3t", "context:auto-prod"],
    ]);

    const hooks = await m.stacks.effectiveHooks("svc");
    expect(hooks.beforeInit).toEqual([
      "low-bi",
      "high-bi",
      "auto-bi",
      "stack-bi",
    ]);
    expect(hooks.afterApply).toEqual(["auto-aa"]);

    const attached = await m.stacks.attachedContexts(ADMIN, "svc");
    expect(attached.map((a) => [a.contextId, a.isAutoattached])).toEqual([
      ["low", false],
      ["high", false],
      ["auto-prod", true],
    ]);
    expect(
      attached[2]?.config.find((c) => c.id === "AUTO_SECRET")?.value,
    ).toBeNull();

    // spacectl's list: stack + explicitly attached winners; auto-attached ones come from attachedContexts.
    const runtime = await m.stacks.runtimeConfig(ADMIN, "svc");
    expect(
      runtime.map((r) => [
        r.element.id,
        r.element.value,
        r.context?.contextId ?? null,
      ]),
    ).toEqual([
      ["SHARED", "stack", null],
      ["PICK", "low", "low"],
      ["ONLY_HIGH", "high", "high"],
    ]);
  });
});

describe("spaces", () => {
  it("creates a tree, refuses cycles, and deletes only empty non-root spaces", async () => {
    const parent = await m.spaces.createSpace(ADMIN, {
      name: "Platform",
      parentSpace: "root",
      inheritEntities: true,
      description: "",
      labels: null,
    });
    expect(parent.id).toMatch(/^platform-[0-9A-Z]{26}$/);
    const child = await m.spaces.createSpace(ADMIN, {
      name: "child",
      parentSpace: parent.id,
      inheritEntities: false,
    });
    await expect(
      m.spaces.updateSpace(ADMIN, parent.id, {
        name: "Platform",
        parentSpace: child.id,
        inheritEntities: true,
      }),
    ).rejects.toThrow(/^spaceUpdate input.parentSpace: .* would make a cycle/);
    await expect(m.spaces.deleteSpace(ADMIN, "root")).rejects.toThrow(
      "the root space cannot be deleted",
    );
    await expect(m.spaces.deleteSpace(ADMIN, parent.id)).rejects.toThrow(
      /still contains 1 child space/,
    );
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "in-child", space: child.id }),
    );
    await expect(m.spaces.deleteSpace(ADMIN, child.id)).rejects.toThrow(
      /1 stack/,
    );
    await m.stacks.deleteStack(ADMIN, "in-child");
    expect((await m.spaces.deleteSpace(ADMIN, child.id)).id).toBe(child.id);
    const moved = await m.spaces.updateSpace(ADMIN, parent.id, {
      name: "Platform 2",
      parentSpace: "team-a",
      inheritEntities: false,
    });
    expect(moved).toMatchObject({
      name: "Platform 2",
      parentSpaceId: "team-a",
    });
    await expect(
      m.spaces.createSpace(ADMIN, {
        name: "x",
        parentSpace: "nope",
        inheritEntities: false,
      }),
    ).rejects.toThrow("space nope not found");
  });

  it("refuses deleting a space other modules still use", async () => {
    const s = await m.spaces.createSpace(ADMIN, {
      name: "keys",
      parentSpace: "root",
      inheritEntities: false,
    });
    await apiKeySession(t.db, { spaceId: s.id, level: "READ" });
    await expect(m.spaces.deleteSpace(ADMIN, s.id)).rejects.toThrow(
      ConflictError,
    );
  });

  it("needs ADMIN on the parent to create, and hides other spaces", async () => {
    const adminA = await apiKeySession(t.db, {
      spaceId: "team-a",
      level: "ADMIN",
    });
    const writerA = await apiKeySession(t.db, {
      spaceId: "team-a",
      level: "WRITE",
    });
    const sub = await m.spaces.createSpace(adminA, {
      name: "sub",
      parentSpace: "team-a",
      inheritEntities: false,
    });
    // The new space is visible to the same session at once.
    expect(await m.spaces.accessLevel(adminA, sub.id)).toBe("ADMIN");
    await expect(
      m.spaces.createSpace(writerA, {
        name: "no",
        parentSpace: "team-a",
        inheritEntities: false,
      }),
    ).rejects.toThrow(ForbiddenError);
    await expect(
      m.spaces.createSpace(adminA, {
        name: "no",
        parentSpace: "root",
        inheritEntities: false,
      }),
    ).rejects.toThrow("space root not found");
    expect(await m.spaces.findSpace(adminA, "team-b")).toBeNull();
    expect(await m.spaces.accessLevel(writerA, "team-a")).toBe("WRITE");
    expect(await m.spaces.accessLevel(ADMIN, "team-b")).toBe("ADMIN");
  });
});
