import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import type { Stack } from "../stacks/index.ts";
import { isTrue, stringsOf, type PolicyResult } from "./policy.ts";
import type {
  Evaluation,
  PolicyEvaluation,
  PolicyReceipt,
} from "./policy-evaluation.ts";
import {
  approvalInput,
  loginInput,
  notificationInput,
  planInput,
  type PlanDocumentFacts,
  type PolicyRunFacts,
  type ReviewFacts,
} from "./policy-inputs.ts";
import * as repo from "./policy-repo.ts";
import { decideTrigger, type TriggerVerdict } from "./policy-trigger.ts";

/** One failed evaluation as a run note shows it. */
function errorLine(r: PolicyReceipt): string {
  return `policy ${r.policyName} (${r.policyId}) failed to evaluate: ${r.error ?? "unknown error"}`;
}

/** `<policy name>: <message>` for each string of `rule` in every receipt. */
function messages(receipts: readonly PolicyReceipt[], rule: string): string[] {
  return receipts.flatMap((r) =>
    stringsOf(r.result[rule]).map((m) => `${r.policyName}: ${m}`),
  );
}

export interface PlanVerdict {
  /** Policies evaluated (0: no plan policy applies). */
  evaluated: number;
  deny: string[];
  warn: string[];
  /** Failed evaluations: the run must fail. */
  errors: string[];
}

export interface ApprovalVerdict {
  decision: "approve" | "reject" | "undecided";
  /** For the run's history: who decided and why. */
  note: string;
  errors: string[];
}

export interface LoginVerdict {
  /** No LOGIN policy exists: the caller keeps its behaviour without policies. */
  noPolicies: boolean;
  allow: boolean;
  admin: boolean;
  /** Space id → role slugs granted (`roles[space]`, legacy `space_read/write/admin`). */
  roles: Record<string, string[]>;
  /**
   * The session's teams: the IdP's (`teams` given), or, when any login policy defines a
   * `team` rule, the union of what those rules return, which replaces them.
   */
  teams: string[];
  reasons: string[];
}

export interface PolicyDecisionsDeps {
  db: Database;
  evaluation: PolicyEvaluation;
  stacks: { loadStack(id: string): Promise<Stack | null> };
  clock: () => Date;
  publicUrl: string;
}

/**
 * What each policy type decides, combined over the policies that apply (deny wins):
 * the functions the composition root wires into auth, runs and VCS. Each builds the
 * type's input document (policy-inputs.ts), evaluates, and returns a verdict; none of
 * them writes another module's tables.
 */
export function createPolicyDecisions(deps: PolicyDecisionsDeps) {
  const { db, evaluation, clock } = deps;
  const ulid = monotonicFactory();

  /** The stack and the facts its `stack` input object needs. */
  async function stackAndSpace(stackId: string) {
    const stack = await deps.stacks.loadStack(stackId);
    if (!stack) return null;
    const facts = (await repo.stackFacts(db, [stackId])).get(stackId) ?? null;
    return { stack, facts };
  }

  return {
    /**
     * PLAN, after a successful plan: `deny` fails the run, `warn` asks for a human.
     * `plan` null (no plan document stored) evaluates with no resource changes.
     */
    async decidePlan(
      run: PolicyRunFacts,
      plan: PlanDocumentFacts | null,
    ): Promise<PlanVerdict> {
      const ctx = await stackAndSpace(run.stackId);
      if (!ctx) return { evaluated: 0, deny: [], warn: [], errors: [] };
      const policies = await evaluation.policiesForStack(run.stackId, "PLAN");
      if (policies.length === 0)
        return { evaluated: 0, deny: [], warn: [], errors: [] };
      const input = planInput({
        run,
        previousRun: await repo.previousRunOf(db, run),
        stack: ctx.stack,
        facts: ctx.facts,
        flags: await evaluation.flagsOf(run.id),
        plan: plan ?? { terraform_version: "", resource_changes: [] },
        now: clock(),
      });
      const result = await evaluation.evaluatePolicies(
        "PLAN",
        policies,
        input,
        {
          runId: run.id,
        },
      );
      return {
        evaluated: policies.length,
        deny: messages(result.receipts, "deny"),
        warn: messages(result.receipts, "warn"),
        errors: result.errors.map(errorLine),
      };
    },

    /** Whether approval policies apply to the stack, so its runs wait for them. */
    approvalRequired: (stackId: string) =>
      evaluation.hasPolicies("APPROVAL", stackId),

    /**
     * APPROVAL over the run's reviews: any `reject` rejects; the run is approved once
     * every approval policy approves; otherwise it stays undecided (waits).
     */
    async decideApproval(
      run: PolicyRunFacts,
      reviews: readonly ReviewFacts[],
      stateSince: Date,
    ): Promise<ApprovalVerdict> {
      const ctx = await stackAndSpace(run.stackId);
      if (!ctx)
        return { decision: "undecided", note: "stack not found", errors: [] };
      const input = approvalInput({
        run,
        stack: ctx.stack,
        facts: ctx.facts,
        flags: await evaluation.flagsOf(run.id),
        reviews,
        history: await repo.runHistory(db, run.id),
        stateSince,
        now: clock(),
      });
      const result = await evaluation.evaluate(
        "APPROVAL",
        { stackId: run.stackId, runId: run.id },
        input,
      );
      const errors = result.errors.map(errorLine);
      const rejecting = result.receipts.filter((r) => isTrue(r.result.reject));
      if (rejecting.length)
        return {
          decision: "reject",
          note: `Rejected by approval ${rejecting.length > 1 ? "policies" : "policy"} ${rejecting.map((r) => r.policyName).join(", ")}`,
          errors,
        };
      if (
        errors.length === 0 &&
        result.receipts.length > 0 &&
        result.receipts.every((r) => isTrue(r.result.approve))
      )
        return {
          decision: "approve",
          note: `Approved by approval ${result.receipts.length > 1 ? "policies" : "policy"} ${result.receipts.map((r) => r.policyName).join(", ")}`,
          errors,
        };
      return { decision: "undecided", note: "", errors };
    },

    /** TRIGGER, when a blocking run ended: see policy-trigger.ts. */
    decideTrigger: (run: PolicyRunFacts): Promise<TriggerVerdict> =>
      decideTrigger({ db, evaluation, stacks: deps.stacks }, run),

    /**
     * LOGIN. Without any LOGIN policy, `noPolicies` (the caller keeps its own rules).
     * With some: denied unless a policy allows (`allow`, `admin` or a role) and none
     * denies (`deny`); `deny_admin` removes admin; a failed evaluation denies.
     */
    async decideLogin(args: {
      login: string;
      name: string;
      machine: boolean;
      admin: boolean;
      teams?: string[];
      remoteIp: string;
    }): Promise<LoginVerdict> {
      const none: LoginVerdict = {
        noPolicies: true,
        allow: true,
        admin: args.admin,
        roles: {},
        teams: args.teams ?? [],
        reasons: [],
      };
      if (!(await evaluation.hasPolicies("LOGIN"))) return none;
      const input = loginInput({
        remoteIp: args.remoteIp,
        now: clock(),
        session: {
          login: args.login,
          name: args.name,
          machine: args.machine,
          admin: args.admin,
          teams: args.teams ?? [],
        },
        spaces: await repo.allSpaces(db),
        roles: [
          { id: "space-reader", name: "Space reader", slug: "space-reader" },
          { id: "space-writer", name: "Space writer", slug: "space-writer" },
          { id: "space-admin", name: "Space admin", slug: "space-admin" },
        ],
      });
      const result: Evaluation = await evaluation.evaluate("LOGIN", {}, input);
      const reasons = result.errors.map(errorLine);
      const denied =
        result.errors.length > 0 ||
        result.receipts.some(
          (r) => isTrue(r.result.deny) || stringsOf(r.result.deny).length > 0,
        );
      const roles: Record<string, string[]> = {};
      const grant = (space: string, role: string) => {
        roles[space] = [...new Set([...(roles[space] ?? []), role])];
      };
      for (const r of result.receipts) {
        const res: PolicyResult = r.result;
        const byRole = res.roles;
        if (byRole && typeof byRole === "object" && !Array.isArray(byRole))
          for (const [space, slugs] of Object.entries(byRole))
            for (const slug of stringsOf(slugs)) grant(space, slug);
        for (const [rule, slug] of [
          ["space_read", "space-reader"],
          ["space_write", "space-writer"],
          ["space_admin", "space-admin"],
        ] as const)
          for (const space of stringsOf(res[rule])) grant(space, slug);
      }
      const admin =
        !denied &&
        result.receipts.some((r) => isTrue(r.result.admin)) &&
        !result.receipts.some((r) => isTrue(r.result.deny_admin));
      const allow =
        !denied &&
        (admin ||
          result.receipts.some((r) => isTrue(r.result.allow)) ||
          Object.keys(roles).length > 0);
      if (denied)
        reasons.push(
          ...messages(result.receipts, "deny"),
          ...result.receipts
            .filter((r) => isTrue(r.result.deny))
            .map((r) => `${r.policyName}: deny`),
        );
      else if (!allow)
        reasons.push(
          "no login policy allowed this login (the default is deny)",
        );
      // `team` (spacelift-reference §2, LOGIN): a policy defining the rule rewrites the
      // session's teams, even to none; policies without it leave the IdP's teams.
      const teamRules = result.receipts.filter((r) => "team" in r.result);
      const teams = teamRules.length
        ? [
            ...new Set(teamRules.flatMap((r) => stringsOf(r.result.team))),
          ].sort()
        : (args.teams ?? []);
      return { noPolicies: false, allow, admin, roles, teams, reasons };
    },

    /**
     * NOTIFICATION on a run state change: stores each policy's routing decisions
     * (inbox, slack, webhook, pull_request) for the state version; delivers nothing.
     * Failed evaluations are stored as inbox entries of severity ERROR, so they show.
     */
    async recordNotifications(args: {
      run: PolicyRunFacts;
      stateVersion: number;
      note: string | null;
      username: string | null;
    }): Promise<number> {
      if (!(await evaluation.hasPolicies("NOTIFICATION"))) return 0;
      const ctx = await stackAndSpace(args.run.stackId);
      if (!ctx) return 0;
      const receipts = await repo.runReceipts(db, args.run.id);
      const lastPlan = receipts.filter((r) => r.type === "PLAN").at(-1);
      const planBatch = lastPlan
        ? receipts.filter(
            (r) =>
              r.type === "PLAN" &&
              r.createdAt.getTime() === lastPlan.createdAt.getTime(),
          )
        : [];
      const input = notificationInput({
        run: args.run,
        stack: ctx.stack,
        facts: ctx.facts,
        flags: await evaluation.flagsOf(args.run.id),
        note: args.note,
        username: args.username,
        history: await repo.runHistory(db, args.run.id, args.stateVersion),
        receipts,
        planDecision: {
          deny: planBatch.flatMap((r) => r.deny),
          warn: planBatch.flatMap((r) => r.warn),
        },
        publicUrl: deps.publicUrl,
      });
      const result = await evaluation.evaluate(
        "NOTIFICATION",
        { stackId: args.run.stackId },
        input,
      );
      const rows: repo.NotificationRow[] = [];
      for (const r of result.receipts) {
        const add = (kind: repo.NotificationRow["kind"], payload: unknown) =>
          rows.push({
            id: `ntf_${ulid().toLowerCase()}`,
            policyId: r.policyId,
            runId: args.run.id,
            stateVersion: args.stateVersion,
            kind,
            payload,
          });
        if (r.error) {
          add("inbox", {
            title: `Notification policy ${r.policyName} failed`,
            body: r.error,
            severity: "ERROR",
          });
          continue;
        }
        for (const kind of [
          "inbox",
          "slack",
          "webhook",
          "pull_request",
        ] as const) {
          const value = r.result[kind];
          for (const item of Array.isArray(value) ? value : []) add(kind, item);
        }
      }
      await repo.replaceNotifications(
        db,
        args.run.id,
        args.stateVersion,
        rows,
        clock(),
      );
      return rows.length;
    },
  };
}

export type PolicyDecisions = ReturnType<typeof createPolicyDecisions>;
