import { monotonicFactory } from "ulid";
import { z } from "zod";
import type { Database } from "../../platform/db/index.ts";
import { isAppError } from "../../platform/errors.ts";
import { defineJob, type JobCatalog } from "../../platform/queue/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { isTerminal } from "../run-status/index.ts";
import type { PolicyDecisions } from "./policy-decisions.ts";
import * as repo from "./policy-repo.ts";

export const POLICY_JOBS = {
  runTransitioned: "policies.runTransitioned",
} as const;

/**
 * Starts a tracked run on `stackId` for a trigger policy, acting with the policy's own
 * rights (WRITE in the policy's space and the spaces below it, whoever started the
 * ended run), and calls `inTx` in the new run's insert transaction; a throw there rolls
 * the run back. Provided by the composition root (runs come after policies).
 */
export type TriggerRunPort = (args: {
  policy: { id: string; spaceId: string };
  stackId: string;
  note: string;
  inTx: (tx: Database, runId: string) => Promise<void>;
}) => Promise<{ id: string }>;

class AlreadyTriggered extends Error {}

/**
 * `policies.runTransitioned` (enqueued by the run_transitions trigger of migration 0010,
 * once per run state version, FIFO per run):
 * - NOTIFICATION policies: their routing decisions for this state change are stored
 *   (replacing those of an earlier attempt).
 * - TRIGGER policies, when a blocking run reached a terminal state: each stack in the
 *   union of their `trigger` sets gets a tracked run, at most once per (run, stack) even
 *   when the job is retried, with the rights of the policy that named it. A target
 *   outside the policy's space subtree, a locked or disabled
 *   stack, or a failed evaluation is logged and stored as an ERROR inbox decision, so
 *   it shows; infrastructure errors retry the job.
 */
export function policyJobs(deps: {
  db: Database;
  decisions: Pick<PolicyDecisions, "recordNotifications" | "decideTrigger">;
  triggerRun?: TriggerRunPort;
  log: Logger;
}): JobCatalog {
  const { db } = deps;
  const log = deps.log.child({ module: "policies" });
  const ulid = monotonicFactory();

  async function problem(
    runId: string,
    stateVersion: number,
    title: string,
    body: string,
  ) {
    log.warn({ runId, title, body }, "trigger policy problem");
    await repo.insertNotification(db, {
      id: `ntf_${ulid().toLowerCase()}`,
      policyId: null,
      runId,
      stateVersion,
      kind: "inbox",
      payload: { title, body, severity: "ERROR" },
    });
  }

  return {
    [POLICY_JOBS.runTransitioned]: defineJob(
      z.object({
        runId: z.string().min(1),
        stateVersion: z.number().int().positive(),
        state: z.string().min(1),
      }),
      async ({ runId, stateVersion, state }) => {
        const run = await repo.runFacts(db, runId);
        if (!run) return;
        const transition = await repo.transitionOf(db, runId, stateVersion);
        await deps.decisions.recordNotifications({
          run: { ...run, state },
          stateVersion,
          note: transition?.note ?? null,
          username: transition?.actor ?? null,
        });
        if (!isTerminal(state) || !run.blocking || run.type !== "TRACKED")
          return;
        const triggerRun = deps.triggerRun;
        if (!triggerRun) return;
        const verdict = await deps.decisions.decideTrigger({ ...run, state });
        for (const error of verdict.errors)
          await problem(runId, stateVersion, "Trigger policy failed", error);
        const done = new Set(
          (await repo.triggeredRunsOf(db, runId)).map((t) => t.stackId),
        );
        for (const { stackId, policyId, policySpaceId } of verdict.targets) {
          if (done.has(stackId)) continue;
          try {
            const created = await triggerRun({
              policy: { id: policyId, spaceId: policySpaceId },
              stackId,
              note: `Triggered by a trigger policy after run ${runId} of stack ${run.stackId} ended (${state})`,
              inTx: async (tx, newRunId) => {
                const first = await repo.recordTriggeredRun(tx, {
                  sourceRunId: runId,
                  stackId,
                  runId: newRunId,
                });
                if (!first) throw new AlreadyTriggered();
              },
            });
            log.info(
              { runId, stackId, triggered: created.id },
              "trigger policy started a run",
            );
          } catch (err) {
            if (err instanceof AlreadyTriggered) continue;
            if (!isAppError(err)) throw err;
            await problem(
              runId,
              stateVersion,
              `Trigger policy could not start a run on stack ${stackId}`,
              err.message,
            );
          }
        }
      },
      // Enqueued by a trigger on run_transitions, in the transition's transaction, once
      // per state version (dedup key), in the FIFO group `policies.run:<runId>`.
      {
        enqueuedBy: {
          trigger: "run_transitions_policies",
          table: "run_transitions",
          migration: "0010_policies.sql",
        },
      },
    ),
  };
}
