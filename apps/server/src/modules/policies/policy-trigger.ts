import type { Database } from "../../platform/db/index.ts";
import type { Stack } from "../stacks/index.ts";
import { stringsOf } from "./policy.ts";
import type { PolicyEvaluation, PolicyReceipt } from "./policy-evaluation.ts";
import { triggerInput, type PolicyRunFacts } from "./policy-inputs.ts";
import * as repo from "./policy-repo.ts";

/** One stack a trigger policy asks to run, and the policy whose rights start it. */
export interface TriggerTarget {
  stackId: string;
  policyId: string;
  /** The policy's space: the run is started with WRITE there and below, nothing more. */
  policySpaceId: string;
}

export interface TriggerVerdict {
  /** Unique by stack, in stack id order; the first policy (id order) naming it wins. */
  targets: TriggerTarget[];
  /** The targets' stack ids (sorted). */
  stackIds: string[];
  errors: string[];
}

/** The space and every space below it, from a child → parent map. */
function subtreeOf(
  spaceId: string,
  parents: ReadonlyMap<string, string | null>,
): Set<string> {
  const inside = new Set([spaceId]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [id, parent] of parents)
      if (parent !== null && inside.has(parent) && !inside.has(id)) {
        inside.add(id);
        grew = true;
      }
  }
  return inside;
}

/**
 * TRIGGER, when a blocking tracked run ended. Each trigger policy that applies to the
 * run's stack is evaluated on its own, and sees, in `stacks`, only the stacks of its own
 * space and the spaces below it: a policy of one space neither learns about nor starts
 * runs in another. A `trigger` id outside that subtree (or unknown) is refused and
 * reported in `errors`. The runs are then started with the policy's own rights
 * (TriggerRunPort), not those of whoever started the ended run.
 */
export async function decideTrigger(
  deps: {
    db: Database;
    evaluation: PolicyEvaluation;
    stacks: { loadStack(id: string): Promise<Stack | null> };
  },
  run: PolicyRunFacts,
): Promise<TriggerVerdict> {
  const { db, evaluation } = deps;
  const none: TriggerVerdict = { targets: [], stackIds: [], errors: [] };
  const stack = await deps.stacks.loadStack(run.stackId);
  if (!stack) return none;
  const policies = await evaluation.policiesForStack(run.stackId, "TRIGGER");
  if (policies.length === 0) return none;

  const queued = await repo.queuedRunsByStack(db);
  const stackIds = await repo.allStackIds(db);
  const facts = await repo.stackFacts(db, stackIds);
  const all: Array<{
    stack: Stack;
    facts: repo.StackFactsRow | null;
    queuedRuns: number;
  }> = [];
  for (const id of stackIds) {
    const s = await deps.stacks.loadStack(id);
    if (s)
      all.push({
        stack: s,
        facts: facts.get(id) ?? null,
        queuedRuns: queued.get(id) ?? 0,
      });
  }
  const parents = await repo.spaceParents(db);
  const common = {
    run,
    history: await repo.runHistory(db, run.id),
    stack,
    facts: facts.get(run.stackId) ?? null,
    flags: await evaluation.flagsOf(run.id),
    workflow: await repo.workflowOf(db, run.id),
  };

  const targets = new Map<string, TriggerTarget>();
  const errors: string[] = [];
  for (const policy of policies) {
    const subtree = subtreeOf(policy.spaceId, parents);
    const visible = all.filter((s) => subtree.has(s.stack.spaceId));
    const inScope = new Set(visible.map((s) => s.stack.id));
    const result = await evaluation.evaluatePolicies(
      "TRIGGER",
      [policy],
      triggerInput({ ...common, stacks: visible }),
      { runId: run.id },
    );
    errors.push(...result.errors.map(errorLine));
    for (const receipt of result.receipts)
      for (const id of stringsOf(receipt.result.trigger)) {
        if (!inScope.has(id)) {
          errors.push(
            `policy ${policy.name} (${policy.id}) cannot trigger stack ${id}: it is not a stack of space ${policy.spaceId} or a space below it`,
          );
          continue;
        }
        if (!targets.has(id))
          targets.set(id, {
            stackId: id,
            policyId: policy.id,
            policySpaceId: policy.spaceId,
          });
      }
  }
  const sorted = [...targets.values()].sort((a, b) =>
    a.stackId < b.stackId ? -1 : 1,
  );
  return {
    targets: sorted,
    stackIds: sorted.map((t) => t.stackId),
    errors,
  };
}

function errorLine(r: PolicyReceipt): string {
  return `policy ${r.policyName} (${r.policyId}) failed to evaluate: ${r.error ?? "unknown error"}`;
}
