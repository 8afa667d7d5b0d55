import { execFileSync } from "node:child_process";
import { loopbackEgress } from "../../../test/egress.ts";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vcsRunsPort } from "../../app.ts";
import { createRunKit, silentLog, type RunKit } from "../../../test/run-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import { Scheduler } from "../../platform/schedule/scheduler.ts";
import {
  createVcsModule,
  redactUrl,
  vcsSchedule,
  type VcsModule,
} from "./index.ts";
import { createGitRunner, mirrorKeyOf } from "./vcs-git.ts";

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Grace",
      GIT_AUTHOR_EMAIL: "grace@example.com",
      GIT_COMMITTER_NAME: "Grace",
      GIT_COMMITTER_EMAIL: "grace@example.com",
    },
  }).trim();
}

async function commit(
  repo: string,
  files: Record<string, string>,
  message: string,
): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(repo, name)), { recursive: true });
    await writeFile(path.join(repo, name), text);
  }
  git(repo, "add", ".");
  git(repo, "commit", "-q", "-m", message);
  return git(repo, "rev-parse", "HEAD");
}

describe("raw git polling", () => {
  let kit: RunKit;
  let vcs: VcsModule;
  let tmp: string;
  let repo: string;

  beforeAll(async () => {
    kit = await createRunKit();
    tmp = await mkdtemp(path.join(os.tmpdir(), "stackyard-vcs-poll-"));
    repo = path.join(tmp, "repo");
    await mkdir(repo);
    git(repo, "init", "-q", "-b", "main");
    await commit(
      repo,
      { "infra/main.tf": "# v1\n", "README.md": "hi\n" },
      "init",
    );
    vcs = createVcsModule({
      egress: loopbackEgress,
      db: kit.t.db,
      encryptor: testEncryptor(),
      access: kit.stacks.access,
      runs: vcsRunsPort(kit.runs.service),
      adapters: {},
      log: silentLog,
      clock: () => kit.now.value,
      dataDir: tmp,
      publicUrl: "http://stackyard.test",
      webhooksEndpoint: "http://stackyard.test",
    });
  });

  afterAll(async () => {
    await kit?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("records a cursor on first sighting, tracks a commit under the project root, and ignores one outside it with the reason", async () => {
    const byPath = await buildStack(kit.t.db, {
      provider: "GIT",
      repository: repo,
      project_root: "infra",
    });
    // The same repository as a file:// URL: one more ls-remote, the same outcomes.
    const byUrl = await buildStack(kit.t.db, {
      provider: "GIT",
      repository: `file://${repo}`,
      project_root: "infra",
    });

    const first = await vcs.poller.poll();
    expect(first).toMatchObject({
      skipped: false,
      branches: 2,
      firstSightings: 2,
      newCommits: 0,
      failures: 0,
    });
    const [start] = await vcs.events.listForStack(ADMIN, byPath.id, 10);
    expect(start).toMatchObject({ outcome: "IGNORED", runId: null });
    expect(start?.reason).toContain("first poll of branch main");

    const inside = await commit(
      repo,
      { "infra/main.tf": "# v2\n" },
      "Bump infra",
    );
    expect(await vcs.poller.poll()).toMatchObject({
      newCommits: 2,
      failures: 0,
    });
    for (const stack of [byPath, byUrl]) {
      const [e] = await vcs.events.listForStack(ADMIN, stack.id, 10);
      expect(e).toMatchObject({
        source: "POLL",
        kind: "push",
        sha: inside,
        branch: "main",
        outcome: "TRACKED",
      });
      expect(e?.reason).toContain("infra/main.tf");
      const run = await kit.t.db
        .selectFrom("runs")
        .selectAll()
        .where("id", "=", e!.runId!)
        .executeTakeFirstOrThrow();
      expect(run).toMatchObject({
        type: "TRACKED",
        commit_sha: inside,
        commit_author: "Grace",
        title: "Bump infra",
        triggered_by: "vcs/git/Grace",
      });
    }
    // Nothing new: no event, no run.
    expect(await vcs.poller.poll()).toMatchObject({ newCommits: 0 });

    const outside = await commit(repo, { "README.md": "hello\n" }, "Docs only");
    expect(await vcs.poller.poll()).toMatchObject({ newCommits: 2 });
    const [ignored, tracked, initial] = await vcs.events.listForStack(
      ADMIN,
      byPath.id,
      10,
    );
    expect(initial?.reason).toContain("first poll");
    expect(ignored).toMatchObject({
      sha: outside,
      outcome: "IGNORED",
      runId: null,
    });
    expect(ignored?.reason).toBe(
      'no changed file (README.md) is under project root "infra"',
    );
    expect(tracked?.sha).toBe(inside);
    const cursor = await kit.t.db
      .selectFrom("vcs_poll_cursors")
      .selectAll()
      .where("stack_id", "=", byPath.id)
      .executeTakeFirstOrThrow();
    expect(cursor.sha).toBe(outside);
    const runs = await kit.t.db
      .selectFrom("runs")
      .select("id")
      .where("stack_id", "=", byPath.id)
      .execute();
    expect(runs).toHaveLength(1);
  });

  it("skips a poll while another holds the poll lock", async () => {
    const [a, b] = await Promise.all([vcs.poller.poll(), vcs.poller.poll()]);
    expect([a.skipped, b.skipped].sort()).toEqual([false, true]);
  });

  it("counts an unreachable repository as a failure without failing the poll, and never logs its credentials", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GIT",
      repository: "https://user:hunter2@127.0.0.1:1/nothing.git",
    });
    const result = await vcs.poller.poll();
    expect(result.failures).toBeGreaterThanOrEqual(1);
    expect(await vcs.events.listForStack(ADMIN, stack.id, 10)).toEqual([]);
    expect(redactUrl("https://user:hunter2@host/x.git")).toBe(
      "https://***@host/x.git",
    );
    await kit.t.db.deleteFrom("stacks").where("id", "=", stack.id).execute();
  });

  it("diffs two commits in a cached bare mirror, and knows no files for a new branch", async () => {
    const runner = createGitRunner({
      mirrorsDir: path.join(tmp, "mirrors"),
      egress: loopbackEgress,
    });
    const before = git(repo, "rev-parse", "HEAD");
    const after = await commit(
      repo,
      { "modules/net/vpc.tf": "# vpc\n", "infra/main.tf": "# v3\n" },
      "Two files",
    );
    const inspected = await runner.inspectPush(repo, "main", before, after);
    expect(inspected.files?.sort()).toEqual([
      "infra/main.tf",
      "modules/net/vpc.tf",
    ]);
    expect(inspected.commit).toMatchObject({
      author: "Grace",
      message: "Two files",
    });
    expect(
      (await runner.inspectPush(repo, "main", null, after)).files,
    ).toBeNull();
    expect(await runner.lsRemoteBranch(repo, "main")).toBe(after);
    expect(await runner.lsRemoteBranch(repo, "no-such-branch")).toBeNull();
  });

  it("keeps one mirror per repository whatever token its clone URL carries", () => {
    const url = (token: string) =>
      `https://x-access-token:${token}@github.com/acme/infra.git`;
    expect(mirrorKeyOf(url("ghs_one"))).toBe(mirrorKeyOf(url("ghs_two")));
    expect(mirrorKeyOf(url("ghs_one"))).toBe(
      "https://github.com/acme/infra.git",
    );
    expect(mirrorKeyOf("/srv/git/infra")).toBe("/srv/git/infra");
  });

  it("enqueues vcs.poll on multiples of the poll interval only", async () => {
    await kit.t.db.deleteFrom("queue_messages").execute();
    const scheduler = new Scheduler({
      db: kit.t.db,
      pgPool: kit.t.pool,
      entries: vcsSchedule(5),
      log: silentLog,
    });
    const polls = async () =>
      (
        await kit.t.db
          .selectFrom("queue_messages")
          .select("dedup_key")
          .where("name", "=", "vcs.poll")
          .execute()
      ).map((r) => r.dedup_key);
    await scheduler.tick(new Date(1_000_000_001_000));
    expect(await polls()).toEqual([]);
    await scheduler.tick(new Date(1_000_000_005_000));
    expect(await polls()).toEqual(["vcs.poll@1000000005"]);
  });

  it("deletes events, outcomes and deliveries older than 7 days", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GIT",
      repository: "/nowhere",
    });
    const old = new Date(kit.now.value.getTime() - 8 * 86_400_000);
    const recent = new Date(kit.now.value.getTime() - 6 * 86_400_000);
    for (const [id, at] of [
      ["vev_old", old],
      ["vev_recent", recent],
    ] as const) {
      await kit.t.db
        .insertInto("vcs_events")
        .values({ id, source: "POLL", kind: "push", received_at: at })
        .execute();
      await kit.t.db
        .insertInto("vcs_event_outcomes")
        .values({
          event_id: id,
          stack_id: stack.id,
          outcome: "IGNORED",
          reason: "test",
          created_at: at,
        })
        .execute();
    }
    const job = vcs.jobs["vcs.collectEvents"];
    await job!.handler({}, { jobId: "1", attempt: 1, log: silentLog });
    const left = await vcs.events.listForStack(ADMIN, stack.id, 10);
    expect(left.map((e) => e.eventId)).toEqual(["vev_recent"]);
  });
});
