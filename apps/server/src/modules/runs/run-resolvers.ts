import { stringifyExact } from "@stackyard/protocol";
import {
  requireSession,
  type GraphQLContext,
} from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import type { RunType as GraphQLRunType } from "../../api/generated/resolvers.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import type { StackNode } from "../stacks/index.ts";
import { isTerminal, type RunState } from "./run.ts";
import { RunNotFoundError } from "./run-errors.ts";
import { LOG_STATES, type RunLogs } from "./run-logs.ts";
import type { RunPlanDocuments } from "./run-plan.ts";
import type { RunRecord, RunReviewRecord, RunTransition } from "./run-repo.ts";
import type { RunService } from "./run-service.ts";

type Ctx = GraphQLContext;
interface StackParent {
  id: string;
}

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

const presentReview = (review: RunReviewRecord) => ({
  id: review.id,
  author: review.author,
  decision: review.decision,
  note: review.note,
  state: review.state,
  timestamp: unix(review.createdAt),
});

function presentTransition(t: RunTransition, hasLogs: boolean) {
  return {
    hasLogs,
    note: t.note,
    state: t.state,
    stateVersion: t.stateVersion,
    terminal: isTerminal(t.state),
    timestamp: unix(t.createdAt),
    username: t.actor,
  };
}

const METADATA_HEADER = "spacelift-user-provided-run-metadata";

function headerValue(ctx: Ctx, name: string): string | null {
  const value = ctx.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

export interface RunResolverDeps {
  runs: Omit<RunService, "waitingReason" | "pendingRuns">;
  /**
   * The GraphQL `Stack` node for `runStack`, built the way the stacks module's own
   * `stack(id)` builds it (`stackLoader`), so every `Stack` field resolves.
   */
  resolveStack: (stackId: string, ctx: Ctx) => Promise<StackNode | null>;
  /** Stored run logs; without it every state answers honestly that it has none. */
  logs?: Pick<RunLogs, "read" | "hasChunks">;
  /** Stored plan documents; without them the plan views fall back to the delta. */
  plans?: Pick<RunPlanDocuments, "readPlanDocument">;
}

interface StoredDelta {
  addCount?: number;
  changeCount?: number;
  deleteCount?: number;
  resources?: number;
  changes?: { address: string; actions: string[] }[];
}

/** `RunChangeMetadata.type` of a planned resource change (Spacelift's change kinds). */
function changeType(actions: readonly string[]): string {
  if (actions.includes("create") && actions.includes("delete"))
    return "REPLACED";
  if (actions.includes("create")) return "ADDED";
  if (actions.includes("delete")) return "DELETED";
  if (actions.includes("update")) return "CHANGED";
  return "NOOP";
}

const isNoop = (actions: readonly string[]) =>
  actions.length === 1 && actions[0] === "no-op";

/**
 * `runTrigger(runType)` accepts any `RunType` on the wire; only deploys (TRACKED) and
 * previews (PROPOSED) are triggered this way.
 */
function triggerableRunType(
  type: GraphQLRunType | null | undefined,
): "TRACKED" | "PROPOSED" | null {
  if (type === undefined || type === null) return null;
  if (type === "TRACKED" || type === "PROPOSED") return type;
  throw new ValidationError(
    `runTrigger runType: ${type} runs cannot be triggered; use TRACKED (deploy) or PROPOSED (preview)${type === "TASK" ? ", or taskCreate for a task" : ""}`,
  );
}

export function runResolvers(deps: RunResolverDeps): Resolvers {
  const { runs } = deps;
  const session = (ctx: Ctx): Session => requireSession(ctx);

  return {
    Query: {
      runStack: async (_: unknown, args: { runId: string }, ctx: Ctx) => {
        const stackId = await runs.stackIdOfRun(session(ctx), args.runId);
        return deps.resolveStack(stackId, ctx);
      },
    },

    Mutation: {
      runTrigger: (
        _: unknown,
        args: {
          stack: string;
          commitSha?: string | null;
          runType?: GraphQLRunType | null;
          runtimeConfig?: unknown;
        },
        ctx: Ctx,
      ) =>
        runs.trigger(session(ctx), {
          stackId: args.stack,
          commitSha: args.commitSha,
          runType: triggerableRunType(args.runType),
          runtimeConfig: args.runtimeConfig ?? undefined,
          metadata: headerValue(ctx, METADATA_HEADER),
        }),
      runConfirm: (
        _: unknown,
        args: { stack: string; run?: string | null; note?: string | null },
        ctx: Ctx,
      ) =>
        runs.confirm(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          note: args.note,
        }),
      runDiscard: (
        _: unknown,
        args: { stack: string; run?: string | null; note?: string | null },
        ctx: Ctx,
      ) =>
        runs.discard(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          note: args.note,
        }),
      runRetry: (_: unknown, args: { stack: string; run: string }, ctx: Ctx) =>
        runs.retry(session(ctx), { stackId: args.stack, runId: args.run }),
      runCancel: (
        _: unknown,
        args: { stack: string; run: string; note?: string | null },
        ctx: Ctx,
      ) =>
        runs.cancel(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          note: args.note,
        }),
      runStop: (
        _: unknown,
        args: { stack: string; run: string; note?: string | null },
        ctx: Ctx,
      ) =>
        runs.stop(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          note: args.note,
        }),
      runPrioritizeSet: (
        _: unknown,
        args: { stack: string; run: string; prioritize: boolean },
        ctx: Ctx,
      ) =>
        runs.prioritize(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          prioritize: args.prioritize,
        }),
      runReview: async (
        _: unknown,
        args: {
          stack: string;
          run?: string | null;
          decision: "APPROVE" | "REJECT";
          note?: string | null;
        },
        ctx: Ctx,
      ) => {
        const review = await runs.review(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          decision: args.decision,
          note: args.note,
        });
        return presentReview(review);
      },
      runPromote: (
        _: unknown,
        args: { stack: string; run: string },
        ctx: Ctx,
      ) => runs.promote(session(ctx), { stackId: args.stack, runId: args.run }),
      runTargetedReplan: (
        _: unknown,
        args: { stack: string; run: string; targets: string[] },
        ctx: Ctx,
      ) =>
        runs.targetedReplan(session(ctx), {
          stackId: args.stack,
          runId: args.run,
          targets: args.targets,
        }),
      taskCreate: (
        _: unknown,
        args: {
          stack: string;
          command: string;
          skipInitialization?: boolean | null;
        },
        ctx: Ctx,
      ) =>
        runs.createTask(session(ctx), {
          stackId: args.stack,
          command: args.command,
          skipInitialization: args.skipInitialization,
        }),
    },

    Stack: {
      run: (stack: StackParent, args: { id: string }, ctx: Ctx) =>
        runs.getRun(session(ctx), { stackId: stack.id, runId: args.id }),
      runResourceState: async (
        stack: StackParent,
        args: { id: string },
        ctx: Ctx,
      ) => {
        const run = await runs.getRun(session(ctx), {
          stackId: stack.id,
          runId: args.id,
        });
        if (!run) throw new RunNotFoundError(args.id);
        return {
          id: run.id,
          state: run.state,
          finished: isTerminal(run.state),
        };
      },
      runs: (stack: StackParent, args: { before?: string | null }, ctx: Ctx) =>
        runs.listRuns(session(ctx), stack.id, "runs", args.before),
      proposedRuns: (
        stack: StackParent,
        args: { before?: string | null },
        ctx: Ctx,
      ) => runs.listRuns(session(ctx), stack.id, "proposedRuns", args.before),
      tasks: (stack: StackParent, args: { before?: string | null }, ctx: Ctx) =>
        runs.listRuns(session(ctx), stack.id, "tasks", args.before),
      blocker: (stack: StackParent, _: unknown, ctx: Ctx) =>
        runs.blocker(session(ctx), stack.id),
    },

    Run: {
      commit: (run: RunRecord) => ({
        authorLogin: null,
        authorName: run.commitAuthor,
        hash: run.commitSha ?? "",
        message: run.commitMessage,
        timestamp: run.commitAt ? unix(run.commitAt) : 0,
        url: null,
      }),
      createdAt: (run: RunRecord) => unix(run.createdAt),
      updatedAt: (run: RunRecord) => unix(run.updatedAt),
      canRetry: (run: RunRecord) => runs.canRetry(run),
      allowedActions: (run: RunRecord) => runs.allowedActions(run),
      comments: () => [],
      delta: (run: RunRecord) => {
        const d = run.delta as StoredDelta | null;
        if (!d) return null;
        return {
          addCount: d.addCount ?? 0,
          changeCount: d.changeCount ?? 0,
          deleteCount: d.deleteCount ?? 0,
          resources: d.resources ?? 0,
        };
      },
      expired: () => false,
      finished: (run: RunRecord) => isTerminal(run.state),
      isMostRecent: (run: RunRecord) => runs.isMostRecent(run),
      // A log state has logs once the run left it (spacectl then streams it to its end)
      // or while chunks of it are stored.
      history: async (run: RunRecord) => {
        const transitions = await runs.history(run);
        const current = transitions.find(
          (t) => t.stateVersion === run.stateVersion,
        );
        const currentHasChunks =
          current !== undefined &&
          LOG_STATES.has(current.state) &&
          !isTerminal(run.state) &&
          deps.logs !== undefined &&
          (await deps.logs.hasChunks(run.id, current.stateVersion));
        return transitions.map((t) =>
          presentTransition(
            t,
            deps.logs !== undefined &&
              LOG_STATES.has(t.state) &&
              (runs.hasLeftState(run, t.state, t.stateVersion) ||
                // Entered after `run` was read: the history is newer than the run,
                // so say "has logs" and let `logs` (which re-reads the run) decide.
                t.stateVersion > run.stateVersion ||
                (t.stateVersion === run.stateVersion && currentHasChunks)),
          ),
        );
      },
      // `finished` turns true once the run has left the state and every stored chunk was
      // served, so spacectl's log streaming ends instead of polling forever
      // (graphql-compat §3).
      logs: (
        run: RunRecord,
        args: {
          state: RunState;
          token?: string | null;
          stateVersion?: number | null;
        },
      ) => {
        const left = runs.hasLeftState(run, args.state, args.stateVersion);
        if (!deps.logs)
          return {
            exists: false,
            expired: false,
            finished: left,
            hasMore: false,
            messages: [],
            nextToken: args.token ?? "",
          };
        return deps.logs.read(run, { ...args, left });
      },
      // One group of the planned resource changes (addresses and kinds, never values):
      // from the plan document when stored (it knows moved addresses), else the delta.
      changesV3: async (run: RunRecord) => {
        const doc = await deps.plans?.readPlanDocument(run.id);
        const changes = doc
          ? doc.resource_changes
              .filter((rc) => !isNoop(rc.change.actions))
              .map((rc) => ({
                address: rc.address,
                previousAddress: rc.previous_address ?? rc.address,
                actions: rc.change.actions,
              }))
          : ((run.delta as StoredDelta | null)?.changes ?? []).map((c) => ({
              ...c,
              previousAddress: c.address,
            }));
        if (changes.length === 0) return [];
        return [
          {
            resources: changes.map((c) => ({
              address: c.address,
              previousAddress: c.previousAddress,
              metadata: { type: changeType(c.actions) },
            })),
          },
        ];
      },
      stackyardReviews: async (run: RunRecord) =>
        (await runs.reviews(run)).map(presentReview),
      stackyardPlanChanges: async (run: RunRecord) => {
        const doc = await deps.plans?.readPlanDocument(run.id);
        return (doc?.resource_changes ?? []).map((rc) => ({
          address: rc.address,
          previousAddress: rc.previous_address ?? null,
          type: rc.type,
          name: rc.name,
          providerName: rc.provider_name,
          actions: rc.change.actions,
          before: stringifyExact(rc.change.before ?? null),
          after: stringifyExact(rc.change.after ?? null),
        }));
      },
    },
  };
}
