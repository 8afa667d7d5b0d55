/**
 * Scheduling order (spacelift-reference §1.2 "Concurrency and priority"): which QUEUED runs may
 * become READY now. Pure: the scheduler loads the queue and the current state, calls
 * `pickRunnable`, and moves the returned runs to READY in one transaction.
 *
 * Invariants:
 * - Order: prioritized runs first, then by class (blocking, then proposed, then drift detection),
 *   then FIFO by createdAt with the id as a tie-breaker, so the order is total and deterministic.
 * - A stack has at most one active blocking run. A blocking run is picked only when its stack has
 *   none active and it is the oldest queued blocking run of its stack (FIFO per stack). Priority
 *   never reorders runs of the same stack: a prioritized later run still waits behind an older
 *   one, and prioritizing only moves a run ahead of other stacks' runs. A held run (awaiting
 *   approval or upstream dependencies) is never picked and still keeps its stack's head position;
 *   it always has a user exit (cancel/discard in QUEUED), so it cannot wedge the stack for good.
 * - Proposed runs (drift detection included) take no lock and run in parallel with each other and
 *   with the stack's blocking run.
 * - A pool never gets more picks than its idle workers; a run whose pool is full is skipped while
 *   later runs of other pools may still be picked. Pools absent from the map have no idle workers.
 *
 * Contract with the caller: `stacksWithActiveBlockingRun` holds every stack with a run for which
 * `holdsStackLock` is true, and `idleWorkersByPool` already excludes workers reserved for READY,
 * CONFIRMED and REPLAN_REQUESTED runs (those are ahead of anything still QUEUED).
 */
import { isBlocking, type RunType } from "./run.ts";

export interface QueuedRunCandidate {
  readonly id: string;
  readonly stackId: string;
  readonly type: RunType;
  /** A drift detection run: a proposed run that is scheduled last. */
  readonly isDrift: boolean;
  readonly prioritized: boolean;
  readonly createdAt: Date;
  readonly workerPoolId: string;
  /** Waiting for approval or upstream dependencies: not runnable yet, but keeps its place. */
  readonly held?: boolean;
}

export interface SchedulingSnapshot {
  readonly stacksWithActiveBlockingRun: ReadonlySet<string>;
  readonly idleWorkersByPool: ReadonlyMap<string, number>;
}

export type SchedulingClass = "blocking" | "proposed" | "drift";

const CLASS_RANK: Readonly<Record<SchedulingClass, number>> = {
  blocking: 0,
  proposed: 1,
  drift: 2,
};

/** A drift run of a blocking type (a reconciliation run) is a normal blocking run. */
export function schedulingClass(
  run: Pick<QueuedRunCandidate, "type" | "isDrift">,
): SchedulingClass {
  if (isBlocking(run.type)) return "blocking";
  return run.isDrift ? "drift" : "proposed";
}

/** FIFO: oldest first, id as the tie-breaker. */
function compareFifo(a: QueuedRunCandidate, b: QueuedRunCandidate): number {
  const byTime = a.createdAt.getTime() - b.createdAt.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Sort comparator for the global order: priority, then class, then FIFO. */
export function compareRunOrder(
  a: QueuedRunCandidate,
  b: QueuedRunCandidate,
): number {
  if (a.prioritized !== b.prioritized) return a.prioritized ? -1 : 1;
  const byClass =
    CLASS_RANK[schedulingClass(a)] - CLASS_RANK[schedulingClass(b)];
  return byClass !== 0 ? byClass : compareFifo(a, b);
}

/** The runs that may become READY now, in scheduling order. Candidates must be QUEUED runs. */
export function pickRunnable<T extends QueuedRunCandidate>(
  candidates: readonly T[],
  snapshot: SchedulingSnapshot,
): T[] {
  const stackHeads = new Map<string, T>();
  for (const run of candidates) {
    if (!isBlocking(run.type)) continue;
    const head = stackHeads.get(run.stackId);
    if (head === undefined || compareFifo(run, head) < 0)
      stackHeads.set(run.stackId, run);
  }

  const eligible = candidates.filter((run) => {
    if (run.held === true) return false;
    if (!isBlocking(run.type)) return true;
    return (
      stackHeads.get(run.stackId) === run &&
      !snapshot.stacksWithActiveBlockingRun.has(run.stackId)
    );
  });

  const idle = new Map(snapshot.idleWorkersByPool);
  const picked: T[] = [];
  for (const run of eligible.sort(compareRunOrder)) {
    const free = idle.get(run.workerPoolId) ?? 0;
    if (free <= 0) continue;
    idle.set(run.workerPoolId, free - 1);
    picked.push(run);
  }
  return picked;
}
