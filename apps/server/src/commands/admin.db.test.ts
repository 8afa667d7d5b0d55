import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/db.ts";
import { hashSecret } from "../modules/auth/index.ts";
import { adminBootstrapCommand } from "./admin.ts";

// `stackyard admin bootstrap` against a real database, as an operator runs it without
// `stackyard up`: the first admin key once, nothing on a rerun, another with --force.

let t: TestDatabase;
const savedUrl = process.env.DATABASE_URL;

function sink() {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

async function bootstrap(flags: { force?: boolean; name?: string } = {}) {
  const out = sink();
  const err = sink();
  const code = await adminBootstrapCommand(flags, {
    stdout: out.stream,
    stderr: err.stream,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

beforeAll(async () => {
  t = await createTestDatabase();
  process.env.DATABASE_URL = t.url;
}, 60_000);

afterAll(async () => {
  if (savedUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = savedUrl;
  await t?.destroy();
});

describe("stackyard admin bootstrap", () => {
  it("creates one admin key under concurrent runs, prints it once, and then does nothing", async () => {
    const runs = await Promise.all([bootstrap(), bootstrap()]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    const printed = runs.filter((r) => r.stdout.trim());
    expect(printed).toHaveLength(1);
    const key = JSON.parse(printed[0]!.stdout) as {
      id: string;
      secret: string;
    };
    const row = await t.db
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", key.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ is_admin: true, name: "admin" });
    expect(row.secret_hash).toBe(hashSecret(key.secret));
    const skipped = runs.find((r) => !r.stdout.trim());
    expect(skipped?.stderr).toContain(
      `an admin API key exists already (${key.id})`,
    );

    const again = await bootstrap();
    expect(again).toMatchObject({ code: 0, stdout: "" });
    const marker = await t.db
      .selectFrom("system_settings")
      .select("key")
      .where("key", "=", "first_admin_created")
      .executeTakeFirst();
    expect(marker).toBeDefined();
  });

  it("creates another admin key with --force and refuses an empty name", async () => {
    const forced = await bootstrap({ force: true, name: "second" });
    expect(forced.code).toBe(0);
    const key = JSON.parse(forced.stdout) as { id: string };
    const admins = await t.db
      .selectFrom("api_keys")
      .select(["id", "name"])
      .where("is_admin", "=", true)
      .execute();
    expect(admins).toContainEqual({ id: key.id, name: "second" });
    expect((await bootstrap({ name: "  " })).code).toBe(2);
  });
});
