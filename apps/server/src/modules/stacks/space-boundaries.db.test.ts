import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildPool } from "../../../test/factories.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
  providerStackInput,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { ForbiddenError } from "../../platform/errors.ts";
import { createStacksModule } from "./index.ts";

// The space rules of spacelift-reference §1.8: a stack may use the worker pools,
// contexts (and, in the VCS and policies modules, integrations and policies) of its own
// space and of the ancestors it inherits from (`inherit_entities`), nothing else.
//
//   root
//   ├── org            (inherits from root)
//   │   ├── team       (inherits from org)
//   │   └── closed     (does not inherit)
//   └── other          (does not inherit)

let t: TestDatabase;
let m: ReturnType<typeof createStacksModule>;
const env = (id: string, value: string) => ({
  id,
  type: "ENVIRONMENT_VARIABLE" as const,
  value,
  writeOnly: false,
});

beforeAll(async () => {
  t = await createTestDatabase();
  m = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock: () => new Date("2026-01-01T00:00:00Z"),
  });
  await insertSpace(t.db, "org", "root", { inherit: true });
  await insertSpace(t.db, "team", "org", { inherit: true });
  await insertSpace(t.db, "closed", "org");
  await insertSpace(t.db, "other", "root");
});
afterAll(async () => {
  await t?.destroy();
});

describe("usable spaces", () => {
  it("follow inherit_entities up the tree, nearest first", async () => {
    expect(await m.access.usableSpaces("team")).toEqual([
      "team",
      "org",
      "root",
    ]);
    expect(await m.access.usableSpaces("closed")).toEqual(["closed"]);
    expect(await m.access.usableSpaces("other")).toEqual(["other"]);
    expect(await m.access.usableSpaces("missing")).toEqual([]);
  });
});

describe("worker pools", () => {
  it("refuses a pool of a sibling space, even to an admin", async () => {
    const pool = await buildPool(t.db, { space_id: "other" });
    const err = await m.stacks
      .createStack(
        ADMIN,
        providerStackInput({ name: "p1", space: "team", workerPool: pool.id }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as Error).message).toMatch(
      /^stackCreate input\.workerPool: worker pool .* lives in space other/,
    );
  });

  it("refuses a parent's pool when the space does not inherit", async () => {
    const pool = await buildPool(t.db, { space_id: "org" });
    await expect(
      m.stacks.createStack(
        ADMIN,
        providerStackInput({
          name: "p2",
          space: "closed",
          workerPool: pool.id,
        }),
      ),
    ).rejects.toThrow(/workerPool: .* lives in space org/);
  });

  it("accepts its own space's pool and an inherited ancestor's", async () => {
    const own = await buildPool(t.db, { space_id: "team" });
    const grand = await buildPool(t.db, { space_id: "root" });
    const s = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "p3", space: "team", workerPool: own.id }),
    );
    const u = await m.stacks.updateStack(
      ADMIN,
      s.id,
      providerStackInput({ name: "p3", space: "team", workerPool: grand.id }),
    );
    expect(u.workerPool?.id).toBe(grand.id);
  });

  it("refuses moving a stack away from the spaces that can use its pool", async () => {
    const pool = await buildPool(t.db, { space_id: "team" });
    const s = await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "p4", space: "team", workerPool: pool.id }),
    );
    await expect(
      m.stacks.updateStack(
        ADMIN,
        s.id,
        providerStackInput({ name: "p4", space: "other", workerPool: pool.id }),
      ),
    ).rejects.toThrow(/stackUpdate input\.workerPool: .* lives in space team/);
  });
});

describe("contexts", () => {
  it("attaches only contexts of spaces the stack may use", async () => {
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "c1", space: "closed" }),
    );
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "c2", space: "team" }),
    );
    const sibling = await m.contexts.createContext(ADMIN, {
      name: "sibling",
      space: "other",
    });
    const parent = await m.contexts.createContext(ADMIN, {
      name: "parent",
      space: "org",
    });
    const err = await m.contexts
      .attachContext(ADMIN, sibling.id, "c1", 0)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as Error).message).toMatch(
      /^contextAttach id: context sibling lives in space other/,
    );
    // `closed` does not inherit from org.
    await expect(
      m.contexts.attachContext(ADMIN, parent.id, "c1", 0),
    ).rejects.toThrow(/lives in space org/);
    // `team` inherits from org.
    const att = await m.contexts.attachContext(ADMIN, parent.id, "c2", 0);
    expect(att.stackId).toBe("c2");
  });

  it("refuses to a writer of both spaces what it refuses to an admin", async () => {
    // A key with WRITE on `org` reads `closed` and `org` alike: still no lineage.
    const writer = await apiKeySession(t.db, {
      spaceId: "org",
      level: "WRITE",
    });
    const ctx = await m.contexts.createContext(writer, {
      name: "org-writer-ctx",
      space: "org",
    });
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "c3", space: "closed" }),
    );
    await expect(
      m.contexts.attachContext(writer, ctx.id, "c3", 0),
    ).rejects.toThrow(ForbiddenError);
  });

  it("auto-attaches only from inherited ancestors", async () => {
    const auto = await m.contexts.createContext(ADMIN, {
      name: "org-auto",
      space: "org",
      labels: ["autoattach:*"],
    });
    await m.contexts.addContextConfig(ADMIN, auto.id, env("ORG_AUTO", "yes"));
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "a1", space: "team" }),
    );
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "a2", space: "closed" }),
    );
    const ids = async (stackId: string) =>
      (await m.stacks.effectiveConfig(stackId)).map((e) => e.id);
    expect(await ids("a1")).toContain("ORG_AUTO");
    expect(await ids("a2")).not.toContain("ORG_AUTO");
  });

  it("ignores an attachment whose context the stack can no longer use", async () => {
    await insertSpace(t.db, "moving", "org", { inherit: true });
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "e1", space: "moving" }),
    );
    const ctx = await m.contexts.createContext(ADMIN, {
      name: "org-env",
      space: "org",
    });
    await m.contexts.addContextConfig(ADMIN, ctx.id, env("ORG_ENV", "v"));
    await m.contexts.attachContext(ADMIN, ctx.id, "e1", 0);
    expect((await m.stacks.effectiveConfig("e1")).map((e) => e.id)).toContain(
      "ORG_ENV",
    );
    await t.db
      .updateTable("spaces")
      .set({ inherit_entities: false })
      .where("id", "=", "moving")
      .execute();
    expect(
      (await m.stacks.effectiveConfig("e1")).map((e) => e.id),
    ).not.toContain("ORG_ENV");
    expect((await m.stacks.effectiveHooks("e1")).beforeInit).toEqual([]);
  });

  it("shows a child-space reader which contexts apply, not a parent's values", async () => {
    await m.stacks.createStack(
      ADMIN,
      providerStackInput({ name: "v1", space: "team" }),
    );
    await m.stacks.addStackConfig(ADMIN, "v1", env("OWN", "mine"));
    const ctx = await m.contexts.createContext(ADMIN, {
      name: "org-plain",
      space: "org",
    });
    await m.contexts.addContextConfig(ADMIN, ctx.id, env("ORG_PLAIN", "p"));
    await m.contexts.attachContext(ADMIN, ctx.id, "v1", 0);
    const reader = await apiKeySession(t.db, {
      spaceId: "team",
      level: "READ",
    });

    const attached = await m.stacks.attachedContexts(reader, "v1");
    const plain = attached.find((a) => a.contextId === ctx.id);
    expect(plain).toBeDefined();
    expect(plain?.config).toEqual([]);
    const runtime = await m.stacks.runtimeConfig(reader, "v1");
    expect(runtime.map((r) => [r.element.id, r.element.value])).toEqual([
      ["OWN", "mine"],
    ]);

    // An admin (who can read org) still sees the values.
    const asAdmin = await m.stacks.runtimeConfig(ADMIN, "v1");
    expect(asAdmin.map((r) => r.element.id)).toContain("ORG_PLAIN");
  });
});
