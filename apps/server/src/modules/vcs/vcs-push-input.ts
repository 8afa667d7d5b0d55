import { unixNanos } from "@stackyard/protocol";
import type { PushPolicyCommit, PushPolicyInput } from "./push-decision.ts";
import { listRunsInProgress, type VcsStack } from "./vcs-stack-query.ts";
import type { PipelineEvent } from "./vcs-push-ports.ts";

/** The GIT_PUSH policy input for one stack (times in nanoseconds, as Spacelift sends them). */
export function policyInputOf(
  ev: PipelineEvent,
  stack: VcsStack,
  inProgress: Awaited<ReturnType<typeof listRunsInProgress>>,
): PushPolicyInput {
  const e = ev.event;
  const commitOf = (c: {
    files: string[] | null;
    author: string;
    branch: string;
    at: Date | null;
    hash: string;
    message: string;
    tag: string;
  }): PushPolicyCommit => ({
    affected_files: c.files,
    author: c.author,
    branch: c.branch,
    created_at: unixNanos(c.at),
    hash: c.hash,
    message: c.message,
    tag: c.tag,
  });
  return {
    push:
      e.kind === "push"
        ? commitOf({
            files: e.affectedFiles,
            author: e.author,
            branch: e.branch ?? "",
            at: e.createdAt,
            hash: e.sha,
            message: e.message,
            tag: e.tag ?? "",
          })
        : null,
    pull_request:
      e.kind === "pull_request"
        ? {
            action: e.action,
            action_initiator: e.author,
            author: e.author,
            base: commitOf({
              files: e.affectedFiles,
              author: e.author,
              branch: e.baseBranch,
              at: null,
              hash: "",
              message: "",
              tag: "",
            }),
            head: commitOf({
              files: e.affectedFiles,
              author: e.author,
              branch: e.headBranch,
              at: null,
              hash: e.headSha,
              message: e.title,
              tag: "",
            }),
            head_owner: e.repository.split("/")[0] ?? "",
            id: e.number,
            labels: e.labels,
            title: e.title,
            diff: e.affectedFiles,
            draft: e.draft,
            closed: e.action === "closed",
            approved: false,
            mergeable: true,
            undiverged: true,
          }
        : null,
    stack: {
      id: stack.id,
      name: stack.name,
      branch: stack.branch,
      project_root: stack.projectRoot,
      additional_project_globs: stack.additionalProjectGlobs,
      labels: stack.labels,
      namespace: stack.namespace,
      repository: stack.repository,
      provider: stack.provider,
      autodeploy: stack.autodeploy,
      administrative: stack.administrative,
      state: stack.state,
      space: { id: stack.spaceId },
      disabled: stack.isDisabled,
      locked_by: stack.lockedBy,
    },
    in_progress: inProgress.map((r) => ({
      id: r.id,
      type: r.type,
      state: r.state,
      branch: r.branch,
      commit: { hash: r.commitSha ?? "" },
      created_at: unixNanos(r.createdAt),
    })),
    vcs_integration: ev.integration
      ? {
          id: ev.integration.id,
          name: ev.integration.name,
          provider: ev.integration.provider,
          is_default: ev.integration.isDefault,
          labels: ev.integration.labels,
          space: { id: ev.integration.spaceId },
        }
      : null,
  };
}
