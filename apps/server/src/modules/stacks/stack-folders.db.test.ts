import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
  providerStackInput,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { createStacksModule } from "./index.ts";

/**
 * The stacks list's folder filter on the server: `listStackFolders` offers every folder
 * of the visible stacks, and a folder picked together with another label narrows the
 * search on the server (two `label` predicates, both must hold).
 */

let t: TestDatabase;
let m: ReturnType<typeof createStacksModule>;
const labels = (values: string[]) => ({
  field: "label",
  constraint: { stringMatches: values },
  exclude: false,
});

beforeAll(async () => {
  t = await createTestDatabase();
  m = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock: () => new Date(),
  });
  await insertSpace(t.db, "folders-a");
  await insertSpace(t.db, "folders-b");
  const mk = (name: string, stackLabels: string[], space = "folders-a") =>
    m.stacks.createStack(
      ADMIN,
      providerStackInput({ name, labels: stackLabels, space }),
    );
  await mk("net-prod", ["folder:prod", "team:net"]);
  await mk("db-prod", ["folder:prod", "team:db"]);
  await mk("net-dev", ["folder:dev/eu", "team:net"]);
  await mk("hidden", ["folder:secret-project"], "folders-b");
  await mk("loose", ["folder:", "plain"]);
});
afterAll(async () => {
  await t?.destroy();
});

describe("stack folders", () => {
  it("lists the distinct folders of visible stacks, sorted, without the prefix", async () => {
    expect(await m.stacks.listStackFolders(ADMIN)).toEqual([
      "dev/eu",
      "prod",
      "secret-project",
    ]);
    const reader = await apiKeySession(t.db, {
      spaceId: "folders-a",
      level: "READ",
    });
    expect(await m.stacks.listStackFolders(reader)).toEqual(["dev/eu", "prod"]);
  });

  it("combines a folder and a label as two server-side predicates", async () => {
    const page = await m.stacks.searchStacks(ADMIN, {
      first: 10,
      predicates: [labels(["folder:prod"]), labels(["team:net"])],
    });
    expect(page.edges.map((e) => e.stack.name)).toEqual(["net-prod"]);
  });
});
