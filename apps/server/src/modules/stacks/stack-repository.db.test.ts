import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  ADMIN,
  providerStackInput,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { createStacksModule } from "./index.ts";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.destroy();
});

const rawGit = (name: string, repository: string) =>
  providerStackInput({ name, provider: "GIT", repository });

describe("the repository policy on stack writes", () => {
  it("refuses a local repository by default, on create and update", async () => {
    const m = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
    });
    await expect(
      m.stacks.createStack(ADMIN, rawGit("local", "/srv/git/infra")),
    ).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
      message: expect.stringMatching(
        /^stackCreate input\.repository: local paths and file:\/\/ URLs are not allowed/,
      ),
    });
    const remote = await m.stacks.createStack(
      ADMIN,
      rawGit("remote", "https://git.example.com/infra.git"),
    );
    await expect(
      m.stacks.updateStack(
        ADMIN,
        remote.id,
        rawGit("remote", "file:///srv/git/infra"),
      ),
    ).rejects.toThrow(/^stackUpdate input\.repository: local paths/);
  });

  it("accepts local repositories when STACKYARD_ALLOW_LOCAL_REPOSITORIES is set", async () => {
    const m = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
      allowLocalRepositories: true,
    });
    const created = await m.stacks.createStack(
      ADMIN,
      rawGit("allowed", "file:///srv/git/infra"),
    );
    expect(created.repository).toBe("file:///srv/git/infra");
  });
});
