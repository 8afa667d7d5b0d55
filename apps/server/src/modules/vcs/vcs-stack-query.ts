import { sql, type Selectable } from "kysely";
import type { Database, StacksTable } from "../../platform/db/index.ts";
import type { VcsProviderKind } from "./provider.ts";
import { stackProvidersOf } from "./vcs-integration.ts";
import { TERMINAL_STATES } from "../run-status/index.ts";

/**
 * Read-only queries on the stacks and runs modules' tables for the push pipeline and the
 * poller (which stacks an event concerns, their runs in progress). Writes to those tables
 * go through the injected runs port, never from here.
 */

export interface VcsStack {
  id: string;
  name: string;
  spaceId: string;
  provider: string;
  namespace: string;
  repository: string;
  repositoryUrl: string | null;
  branch: string;
  projectRoot: string;
  additionalProjectGlobs: string[];
  labels: string[];
  vcsIntegrationId: string | null;
  autodeploy: boolean;
  administrative: boolean;
  isDisabled: boolean;
  lockedBy: string | null;
  state: string;
}

function toStack(r: Selectable<StacksTable>): VcsStack {
  return {
    id: r.id,
    name: r.name,
    spaceId: r.space_id,
    provider: r.provider,
    namespace: r.namespace,
    repository: r.repository,
    repositoryUrl: r.repository_url,
    branch: r.branch,
    projectRoot: r.project_root,
    additionalProjectGlobs: r.additional_project_globs,
    labels: r.labels,
    vcsIntegrationId: r.vcs_integration_id,
    autodeploy: r.autodeploy,
    administrative: r.administrative,
    isDisabled: r.is_disabled,
    lockedBy: r.locked_by,
    state: r.state,
  };
}

/**
 * Stacks on an integration's repository. A stack belongs to the integration it names, or,
 * naming none, to its provider's default integration. Its repository is
 * `<namespace>/<repository>` (Spacelift's GitHub/GitLab fields), or `repository` alone
 * when it already holds the full path; compared case-insensitively, as GitHub and GitLab
 * do.
 */
export async function findStacksOfRepository(
  db: Database,
  k: {
    provider: Exclude<VcsProviderKind, "RAW_GIT">;
    integrationId: string;
    isDefault: boolean;
    repository: string;
  },
): Promise<VcsStack[]> {
  const repo = k.repository.toLowerCase();
  const rows = await db
    .selectFrom("stacks")
    .selectAll()
    .where("provider", "in", stackProvidersOf(k.provider))
    .where((eb) =>
      k.isDefault
        ? eb.or([
            eb("vcs_integration_id", "=", k.integrationId),
            eb("vcs_integration_id", "is", null),
          ])
        : eb("vcs_integration_id", "=", k.integrationId),
    )
    .where((eb) =>
      eb.or([
        eb(sql<string>`lower(namespace || '/' || repository)`, "=", repo),
        eb.and([
          eb(sql<string>`lower(repository)`, "=", repo),
          eb(sql<number>`position('/' in repository)`, ">", 0),
        ]),
      ]),
    )
    .orderBy("id")
    .execute();
  return rows.map(toStack);
}

/** Raw git stacks (provider GIT) that are enabled: what the poller watches. */
export async function listRawGitStacks(db: Database): Promise<VcsStack[]> {
  const rows = await db
    .selectFrom("stacks")
    .selectAll()
    .where("provider", "=", "GIT")
    .where("is_disabled", "=", false)
    .orderBy("id")
    .execute();
  return rows.map(toStack);
}

export async function findStack(
  db: Database,
  id: string,
): Promise<VcsStack | null> {
  const row = await db
    .selectFrom("stacks")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toStack(row) : null;
}

export interface InProgressRun {
  id: string;
  type: string;
  state: string;
  branch: string;
  commitSha: string | null;
  createdAt: Date;
}

/** The stack's runs not yet in a terminal state (`in_progress` of the push input). */
export async function listRunsInProgress(
  db: Database,
  stackId: string,
): Promise<InProgressRun[]> {
  const rows = await db
    .selectFrom("runs")
    .select(["id", "type", "state", "branch", "commit_sha", "created_at"])
    .where("stack_id", "=", stackId)
    .where("state", "not in", TERMINAL_STATES)
    .orderBy("created_at")
    .limit(100)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    state: r.state,
    branch: r.branch,
    commitSha: r.commit_sha,
    createdAt: r.created_at,
  }));
}

/** A run's facts the feedback needs (state, delta, stack), read-only. */
export async function findRunForFeedback(
  db: Database,
  runId: string,
): Promise<{
  id: string;
  stackId: string;
  type: string;
  state: string;
  delta: unknown;
  failureReason: string | null;
} | null> {
  const r = await db
    .selectFrom("runs")
    .select(["id", "stack_id", "type", "state", "delta", "failure_reason"])
    .where("id", "=", runId)
    .executeTakeFirst();
  return r
    ? {
        id: r.id,
        stackId: r.stack_id,
        type: r.type,
        state: r.state,
        delta: r.delta,
        failureReason: r.failure_reason,
      }
    : null;
}
