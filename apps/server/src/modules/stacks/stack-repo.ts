import type { Selectable } from "kysely";
import type { Database, StacksTable } from "../../platform/db/index.ts";
import { normalizeHooks, type Stack } from "./stack.ts";
import type { StackSettings, VendorSettings } from "./stack-inputs.ts";

/** Kysely writes on `stacks`; this file is their only writer. */

export function toStack(row: Selectable<StacksTable>): Stack {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    labels: row.labels,
    spaceId: row.space_id,
    provider: row.provider,
    repository: row.repository,
    repositoryUrl: row.repository_url,
    namespace: row.namespace,
    branch: row.branch,
    projectRoot: row.project_root,
    additionalProjectGlobs: row.additional_project_globs,
    gitSparseCheckoutPaths: row.git_sparse_checkout_paths,
    vcsIntegrationId: row.vcs_integration_id,
    workerPoolId: row.worker_pool_id,
    workflowTool: row.workflow_tool,
    vendor: row.vendor,
    toolVersion: row.tool_version,
    terraformWorkspace: row.terraform_workspace,
    externalStateAccess: row.external_state_access,
    smartSanitization: row.smart_sanitization,
    runnerImage: row.runner_image,
    autodeploy: row.autodeploy,
    autoretry: row.autoretry,
    administrative: row.administrative,
    githubActionDeploy: row.github_action_deploy,
    localPreviewEnabled: row.local_preview_enabled,
    protectFromDeletion: row.protect_from_deletion,
    manageState: row.manage_state,
    enableWellKnownSecretMasking: row.enable_well_known_secret_masking,
    enableSensitiveOutputsUpload: row.enable_sensitive_outputs_upload,
    isDisabled: row.is_disabled,
    hooks: normalizeHooks(row.hooks),
    lockedBy: row.locked_by,
    lockedNote: row.locked_note,
    lockedAt: row.locked_at,
    trackedCommit: row.tracked_commit_sha
      ? {
          sha: row.tracked_commit_sha,
          message: row.tracked_commit_message,
          author: row.tracked_commit_author,
          at: row.tracked_commit_at,
          setBy: row.tracked_commit_set_by,
        }
      : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function settingsColumns(
  s: StackSettings & { spaceId: string },
  vendor: VendorSettings | null,
) {
  return {
    name: s.name,
    description: s.description,
    labels: s.labels,
    space_id: s.spaceId,
    provider: s.provider,
    repository: s.repository,
    repository_url: s.repositoryUrl,
    namespace: s.namespace,
    branch: s.branch,
    project_root: s.projectRoot,
    additional_project_globs: s.additionalProjectGlobs,
    git_sparse_checkout_paths: s.gitSparseCheckoutPaths,
    vcs_integration_id: s.vcsIntegrationId,
    worker_pool_id: s.workerPoolId,
    ...(vendor
      ? {
          workflow_tool: vendor.workflowTool,
          vendor: vendor.form,
          tool_version: vendor.toolVersion,
          terraform_workspace: vendor.terraformWorkspace,
          external_state_access: vendor.externalStateAccess,
          smart_sanitization: vendor.smartSanitization,
        }
      : {}),
    runner_image: s.runnerImage,
    autodeploy: s.autodeploy,
    autoretry: s.autoretry,
    administrative: s.administrative,
    github_action_deploy: s.githubActionDeploy,
    local_preview_enabled: s.localPreviewEnabled,
    protect_from_deletion: s.protectFromDeletion,
    enable_well_known_secret_masking: s.enableWellKnownSecretMasking,
    enable_sensitive_outputs_upload: s.enableSensitiveOutputsUpload,
    hooks: JSON.stringify(s.hooks),
  };
}

/** Inserts unless the id is taken; returns null when it is (the caller picks another). */
export async function insertStackIfAbsent(
  db: Database,
  stack: {
    id: string;
    settings: StackSettings & { spaceId: string };
    manageState: boolean;
    now: Date;
  },
): Promise<Stack | null> {
  const row = await db
    .insertInto("stacks")
    .values({
      id: stack.id,
      ...settingsColumns(stack.settings, stack.settings.vendor),
      manage_state: stack.manageState,
      created_at: stack.now,
      updated_at: stack.now,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .returningAll()
    .executeTakeFirst();
  return row ? toStack(row) : null;
}

export async function findStack(
  db: Database,
  id: string,
): Promise<Stack | null> {
  const row = await db
    .selectFrom("stacks")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toStack(row) : null;
}

/** Replaces every setting; a null vendor keeps the stored vendor settings. */
export async function updateStackSettings(
  db: Database,
  id: string,
  settings: StackSettings & { spaceId: string },
  now: Date,
): Promise<Stack | null> {
  const row = await db
    .updateTable("stacks")
    .set({ ...settingsColumns(settings, settings.vendor), updated_at: now })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? toStack(row) : null;
}

export async function deleteStackRow(
  db: Database,
  id: string,
): Promise<boolean> {
  const res = await db
    .deleteFrom("stacks")
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Takes the user lock unless someone else holds it: the row update is the atomic
 * check, so two concurrent lockers cannot both win. Relocking by the holder updates
 * the note. Returns null when another holder has it.
 */
export async function takeLock(
  db: Database,
  id: string,
  holder: string,
  note: string | null,
  now: Date,
): Promise<Stack | null> {
  const row = await db
    .updateTable("stacks")
    .set({
      locked_by: holder,
      locked_note: note,
      locked_at: now,
      updated_at: now,
    })
    .where("id", "=", id)
    .where((eb) =>
      eb.or([eb("locked_by", "is", null), eb("locked_by", "=", holder)]),
    )
    .returningAll()
    .executeTakeFirst();
  return row ? toStack(row) : null;
}

/** Releases the lock if `expectedHolder` still holds it (null: whoever holds it). */
export async function releaseLock(
  db: Database,
  id: string,
  expectedHolder: string | null,
  now: Date,
): Promise<Stack | null> {
  let q = db
    .updateTable("stacks")
    .set({
      locked_by: null,
      locked_note: null,
      locked_at: null,
      updated_at: now,
    })
    .where("id", "=", id)
    .where("locked_by", "is not", null);
  if (expectedHolder !== null) q = q.where("locked_by", "=", expectedHolder);
  const row = await q.returningAll().executeTakeFirst();
  return row ? toStack(row) : null;
}

export async function setDisabled(
  db: Database,
  id: string,
  disabled: boolean,
  now: Date,
): Promise<Stack | null> {
  const row = await db
    .updateTable("stacks")
    .set({ is_disabled: disabled, updated_at: now })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? toStack(row) : null;
}

export async function setTrackedCommit(
  db: Database,
  id: string,
  commit: { sha: string; setBy: string; at: Date },
): Promise<Stack | null> {
  const row = await db
    .updateTable("stacks")
    .set({
      tracked_commit_sha: commit.sha,
      tracked_commit_message: null,
      tracked_commit_author: null,
      tracked_commit_at: commit.at,
      tracked_commit_set_by: commit.setBy,
      updated_at: commit.at,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? toStack(row) : null;
}
