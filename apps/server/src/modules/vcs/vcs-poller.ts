import { sql } from "kysely";
import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { PushEvent } from "./provider.ts";
import * as events from "./vcs-event-repo.ts";
import { redactUrl, type GitRunner } from "./vcs-git.ts";
import type { PushPipeline } from "./vcs-push-pipeline.ts";
import { listRawGitStacks, type VcsStack } from "./vcs-stack-query.ts";

// Names "the raw git poll" among advisory locks in this database.
const POLL_LOCK_KEY = 0x5663_7350; // "VcsP"

export interface PollResult {
  skipped: boolean;
  /** Distinct (repository, branch) pairs asked with ls-remote. */
  branches: number;
  /** Stacks seen for the first time (cursor recorded, no run). */
  firstSightings: number;
  /** New commits fed to the push pipeline (one event each). */
  newCommits: number;
  failures: number;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
}

/**
 * `vcs.poll`: raw git stacks' tracked branches. One `git ls-remote` per distinct
 * (repository, branch), a few at a time, each with a timeout; a branch whose head moved
 * past a stack's cursor becomes a push event (changed files from `git diff` in the
 * cached mirror) fed to the same push pipeline as webhooks. A stack seen for the first
 * time only records its cursor: polling starts from the present, it does not replay
 * history.
 *
 * Concurrency: one poll at a time across all drains, by a session advisory lock held
 * on one connection for the poll; a poll that finds the lock taken returns at once (the
 * next interval polls again). The cursor also moves by compare-and-set in the
 * transaction that records the stack's outcome, so a run and its cursor commit together.
 */
export function createVcsPoller(deps: {
  db: Database;
  pipeline: PushPipeline;
  git: GitRunner;
  log: Logger;
  clock: () => Date;
  concurrency?: number;
}) {
  const { db, pipeline, git, clock } = deps;
  const log = deps.log.child({ module: "vcs", component: "poller" });

  /**
   * A stack polled for the first time: its cursor starts at the branch head, recorded
   * with an ignored outcome that says so (no run: history is not replayed).
   */
  async function recordFirstSightings(
    repository: string,
    branch: string,
    sha: string,
    stacks: VcsStack[],
    result: PollResult,
  ): Promise<void> {
    const eventId = pipeline.newEventId();
    await events.insertEvent(db, {
      id: eventId,
      integrationId: null,
      source: "POLL",
      deliveryId: null,
      kind: "push",
      repository,
      branch,
      tag: null,
      sha,
      prNumber: null,
      note: "first poll of the branch for these stacks",
      now: clock(),
    });
    for (const stack of stacks) {
      await db.transaction().execute(async (tx) => {
        const inserted = await events.advanceCursor(tx, {
          stackId: stack.id,
          repository,
          branch,
          sha,
          expected: null,
          now: clock(),
        });
        if (!inserted) return;
        await events.recordOutcome(tx, {
          eventId,
          stackId: stack.id,
          outcome: "IGNORED",
          runId: null,
          reason: `first poll of branch ${branch}: polling starts at commit ${sha.slice(0, 12)}; earlier commits do not trigger runs`,
          now: clock(),
        });
        result.firstSightings++;
      });
    }
  }

  async function pollBranch(
    url: string,
    branch: string,
    stacks: VcsStack[],
    cursors: Awaited<ReturnType<typeof events.findCursors>>,
    result: PollResult,
  ): Promise<void> {
    const repository = redactUrl(url);
    let head: string | null;
    try {
      head = await git.lsRemoteBranch(url, branch);
    } catch (err) {
      result.failures++;
      log.warn(
        { repository, branch, error: (err as Error).message },
        "could not poll a raw git branch",
      );
      return;
    }
    if (head === null) return;
    const sha = head;
    // Stacks behind the head, grouped by where their cursor stands.
    const behind = new Map<string, VcsStack[]>();
    const newcomers: VcsStack[] = [];
    for (const stack of stacks) {
      const cursor = cursors.get(stack.id);
      if (!cursor) newcomers.push(stack);
      else if (cursor.sha !== sha)
        behind.set(cursor.sha, [...(behind.get(cursor.sha) ?? []), stack]);
    }
    if (newcomers.length > 0)
      await recordFirstSightings(repository, branch, sha, newcomers, result);
    for (const [before, group] of behind) {
      let inspected;
      try {
        inspected = await git.inspectPush(url, branch, before, sha);
      } catch (err) {
        result.failures++;
        log.warn(
          { repository, branch, sha, error: (err as Error).message },
          "could not fetch a new raw git commit; retrying at the next poll",
        );
        continue;
      }
      const event: PushEvent = {
        kind: "push",
        repository,
        branch,
        tag: null,
        sha,
        beforeSha: before,
        message: inspected.commit.message,
        author: inspected.commit.author,
        createdAt: inspected.commit.at ?? clock(),
        affectedFiles: inspected.files,
      };
      const ev = {
        eventId: pipeline.newEventId(),
        source: "POLL" as const,
        deliveryId: null,
        integration: null,
        event,
      };
      await pipeline.recordEvent(ev, null);
      result.newCommits++;
      for (const stack of group) {
        await pipeline.applyToStack(ev, stack, async (tx) => {
          const moved = await events.advanceCursor(tx, {
            stackId: stack.id,
            repository,
            branch,
            sha,
            expected: before,
            now: clock(),
          });
          if (!moved)
            throw new Error(
              `the poll cursor of stack ${stack.id} moved during the poll`,
            );
        });
      }
    }
  }

  return {
    async poll(): Promise<PollResult> {
      const result: PollResult = {
        skipped: false,
        branches: 0,
        firstSightings: 0,
        newCommits: 0,
        failures: 0,
      };
      await db.connection().execute(async (conn) => {
        const { rows } = await sql<{
          locked: boolean;
        }>`select pg_try_advisory_lock(${POLL_LOCK_KEY}) as locked`.execute(
          conn,
        );
        if (!rows[0]?.locked) {
          result.skipped = true;
          return;
        }
        try {
          const stacks = (await listRawGitStacks(db)).filter(
            (s) => (s.repositoryUrl ?? s.repository).trim() !== "",
          );
          const cursors = await events.findCursors(
            db,
            stacks.map((s) => s.id),
          );
          const branches = new Map<
            string,
            { url: string; branch: string; stacks: VcsStack[] }
          >();
          for (const s of stacks) {
            const url = (s.repositoryUrl ?? s.repository).trim();
            const key = `${url}\u0000${s.branch}`;
            const entry = branches.get(key) ?? {
              url,
              branch: s.branch,
              stacks: [],
            };
            entry.stacks.push(s);
            branches.set(key, entry);
          }
          result.branches = branches.size;
          await eachLimited(
            [...branches.values()],
            deps.concurrency ?? 4,
            (b) => pollBranch(b.url, b.branch, b.stacks, cursors, result),
          );
        } finally {
          await sql`select pg_advisory_unlock(${POLL_LOCK_KEY})`.execute(conn);
        }
      });
      return result;
    },
  };
}

export type VcsPoller = ReturnType<typeof createVcsPoller>;
