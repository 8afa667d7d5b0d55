import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../../../e2e/harness.ts";
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
import { ADMIN, providerStackInput } from "../../../test/stacks-fixtures.ts";

/** The real `stackyard state ...` CLI (a child process) against a running API server. */

let kit: StateApiKit;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  // A 2 MiB upload limit, so an import shows progress on stderr.
  kit = await createStateApiKit({ uploadLimitBytes: 2 * 1024 * 1024 });
  const key = await kit.adminKey();
  env = {
    STACKYARD_API_ENDPOINT: kit.url,
    STACKYARD_API_KEY_ID: key.id,
    STACKYARD_API_KEY_SECRET: key.secret,
  };
  dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-state-cli-"));
});
afterAll(async () => {
  await kit?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const p = runCli(args, env);
  const code = await p.exited;
  return { code, output: p.output() };
}

async function stackWithHistory(name: string): Promise<string> {
  const stack = await kit.stacks.stacks.createStack(
    ADMIN,
    providerStackInput({ name }),
  );
  const runId = await insertRun(kit.db, { stackId: stack.id });
  const creds = await kit.state.issueStateCredentials({
    runId,
    stackId: stack.id,
    scope: "write",
    ttlSeconds: 600,
  });
  for (const serial of [1, 2])
    await stateRequest(kit, "POST", stack.id, {
      creds,
      body: stateFile(serial, "lin-cli", { n: { value: serial } }),
    });
  await setRunState(kit.db, runId, "FINISHED");
  return stack.id;
}

describe("stackyard state (CLI)", () => {
  it("lists versions and downloads the current and an older version", async () => {
    const stackId = await stackWithHistory("cli-state");
    const versions = await cli(["state", "versions", "--stack", stackId]);
    expect(versions.code, versions.output).toBe(0);
    const lines = versions.output.trim().split("\n");
    expect(lines[0]).toMatch(/^VERSION\tSERIAL/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^sv_\S+ \*\t2\t/);
    expect(lines[2]).toMatch(/\t1\t.*\tlin-cli$/);
    const oldId = lines[2]!.split("\t")[0]!;

    const out = path.join(dir, "current.tfstate");
    const current = await cli([
      "state",
      "download",
      "--stack",
      stackId,
      "-o",
      out,
    ]);
    expect(current.code, current.output).toBe(0);
    expect(await readFile(out, "utf8")).toBe(
      stateFile(2, "lin-cli", { n: { value: 2 } }),
    );

    const old = await cli([
      "state",
      "download",
      "--stack",
      stackId,
      "--version",
      oldId,
    ]);
    expect(old.code, old.output).toBe(0);
    expect(old.output).toContain('"serial": 1');

    const missing = await cli(["state", "versions", "--stack", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/^stackyard: .*nope/m);
  });

  it("imports (with progress), rolls back and force-unlocks", async () => {
    const stackId = await stackWithHistory("cli-import");
    const file = path.join(dir, "import.tfstate");
    const big = JSON.parse(stateFile(9, "lin-imported")) as Record<
      string,
      unknown
    >;
    big.padding = "x".repeat(1_500_000);
    await writeFile(file, JSON.stringify(big));

    const unlocked = await cli([
      "state",
      "import",
      "--stack",
      stackId,
      "--file",
      file,
    ]);
    expect(unlocked.code).toBe(1);
    expect(unlocked.output).toMatch(/lock stack .* first/);

    // The stack is locked by the CLI's own key (`spacectl stack lock` with that key).
    await kit.db
      .updateTable("stacks")
      .set({ locked_by: `api::${env.STACKYARD_API_KEY_ID}` })
      .where("id", "=", stackId)
      .execute();

    const imported = await cli([
      "state",
      "import",
      "--stack",
      stackId,
      "--file",
      file,
    ]);
    expect(imported.code, imported.output).toBe(0);
    expect(imported.output).toMatch(/uploading .*\(100%\)/);
    expect(imported.output).toMatch(
      /imported .* \(serial 9, lineage lin-imported\)/,
    );

    const { versions } = await kit.ops.listVersions(ADMIN, stackId);
    const first = versions.find((v) => v.serial === 1)!;
    const rolled = await cli([
      "state",
      "rollback",
      "--stack",
      stackId,
      "--version",
      first.id,
    ]);
    expect(rolled.code, rolled.output).toBe(0);
    expect(rolled.output).toMatch(/new current version sv_\S+ \(serial 10\)/);

    const runId = await insertRun(kit.db, { stackId, state: "APPLYING" });
    const creds = await kit.state.issueStateCredentials({
      runId,
      stackId,
      scope: "write",
      ttlSeconds: 600,
    });
    await stateRequest(kit, "LOCK", stackId, {
      creds,
      body: lockInfo("cli-stuck"),
    });
    const unlock = await cli(["state", "force-unlock", "--stack", stackId]);
    expect(unlock.code, unlock.output).toBe(0);
    expect(unlock.output).toContain(
      `removed the state lock cli-stuck of run ${runId}`,
    );
  });
});
