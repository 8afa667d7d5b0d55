import type { Database } from "../../platform/db/index.ts";
import * as events from "./vcs-event-repo.ts";
import type {
  PipelineEvent,
  PushPipelineDeps,
  StackOutcome,
} from "./vcs-push-ports.ts";

/** The outcome of the one decision per (event, stack), before it is recorded. */
export interface Recorded {
  outcome: events.Outcome;
  reason: string;
  rules: readonly string[];
  actions: string[];
}

/** The commit an event is about: a push's sha, a pull request's head. */
export const shaOf = (ev: PipelineEvent) =>
  ev.event.kind === "push" ? ev.event.sha : ev.event.headSha;

/** The identity VCS-triggered runs act as: `vcs/<provider>/<author>`. */
export function actorOf(ev: PipelineEvent): string {
  const provider = (ev.integration?.provider ?? "RAW_GIT").toLowerCase();
  return `vcs/${provider === "raw_git" ? "git" : provider}/${ev.event.author || "unknown"}`;
}

/**
 * The one recorded outcome per (event, stack): whether it exists, and recording one
 * without a run (IGNORED, NOTRIGGER, FAILED) with the reason a user reads.
 */
export function createPushOutcomes(
  deps: Pick<PushPipelineDeps, "db" | "clock">,
) {
  const { db, clock } = deps;

  async function hasOutcome(eventId: string, stackId: string) {
    const row = await db
      .selectFrom("vcs_event_outcomes")
      .select("stack_id")
      .where("event_id", "=", eventId)
      .where("stack_id", "=", stackId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The reason a user reads: the decision, the rules that fired, what was done. */
  function describe(r: Recorded): string {
    const parts = [r.reason];
    if (r.rules.length) parts.push(`rules: ${r.rules.join(", ")}`);
    if (r.actions.length) parts.push(r.actions.join("; "));
    return parts.join(" | ");
  }

  /** Records an outcome without a run (IGNORED, NOTRIGGER, FAILED). */
  async function recordNoRun(
    ev: PipelineEvent,
    stackId: string,
    r: Recorded,
    afterStack?: (tx: Database) => Promise<void>,
    inTx?: (tx: Database) => Promise<void>,
  ): Promise<StackOutcome> {
    const reason = describe(r);
    await db.transaction().execute(async (tx) => {
      await events.recordOutcome(tx, {
        eventId: ev.eventId,
        stackId,
        outcome: r.outcome,
        runId: null,
        reason,
        rules: r.rules,
        actions: r.actions,
        now: clock(),
      });
      await inTx?.(tx);
      await afterStack?.(tx);
    });
    return { stackId, outcome: r.outcome, runId: null, reason };
  }

  async function recordIgnored(
    ev: PipelineEvent,
    stackId: string,
    reason: string,
    afterStack?: (tx: Database) => Promise<void>,
    context: { rules: readonly string[]; actions: string[] } = {
      rules: [],
      actions: [],
    },
  ): Promise<StackOutcome> {
    return recordNoRun(
      ev,
      stackId,
      { outcome: "IGNORED", reason, ...context },
      afterStack,
    );
  }

  return { hasOutcome, describe, recordNoRun, recordIgnored };
}

export type PushOutcomes = ReturnType<typeof createPushOutcomes>;
