import {
  isForeignKeyViolation,
  type Database,
} from "../../platform/db/index.ts";
import { ForbiddenError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import {
  StackNotFoundError,
  type SpaceAccess,
  type Stack,
} from "../stacks/index.ts";
import { canonicalType, type Policy, type PolicyType } from "./policy.ts";
import { PolicyNotFoundError } from "./policy-errors.ts";
import * as repo from "./policy-repo.ts";

/**
 * The access checks every policy use case shares: a policy the caller cannot read is
 * "not found"; changing one needs ADMIN on its space, and an admin session for LOGIN
 * policies (global); attaching needs ADMIN on the stack's space.
 */
export function createPolicyGuards(deps: {
  db: Database;
  access: Pick<SpaceAccess, "assertCanRead" | "assertCanAdmin">;
  stacks: { loadStack(id: string): Promise<Stack | null> };
}) {
  const { db, access } = deps;

  async function readable(session: Session, id: string): Promise<Policy> {
    const policy = await repo.findPolicy(db, id);
    if (!policy) throw new PolicyNotFoundError(id);
    await access.assertCanRead(
      session,
      policy.spaceId,
      new PolicyNotFoundError(id),
    );
    return policy;
  }

  async function administrable(
    session: Session,
    policy: Pick<Policy, "id" | "type" | "spaceId">,
  ): Promise<void> {
    await access.assertCanAdmin(
      session,
      policy.spaceId,
      new PolicyNotFoundError(policy.id),
    );
    if (policy.type === "LOGIN" && !session.admin)
      throw new ForbiddenError(
        "login policies are global: only an admin can manage them",
      );
  }

  async function loadAttachable(
    session: Session,
    policyId: string,
    stackId: string,
  ): Promise<{ policy: Policy; stack: Stack }> {
    const policy = await readable(session, policyId);
    const stack = await deps.stacks.loadStack(stackId);
    if (!stack) throw new StackNotFoundError(stackId);
    await access.assertCanAdmin(
      session,
      stack.spaceId,
      new StackNotFoundError(stackId),
    );
    return { policy, stack };
  }

  return { readable, administrable, loadAttachable };
}

export type PolicyGuards = ReturnType<typeof createPolicyGuards>;

export function cleanLabels(labels: readonly string[] | null | undefined) {
  const out = [...new Set((labels ?? []).map((l) => l.trim()))];
  if (out.some((l) => l === ""))
    throw new ValidationError("labels must not be empty strings");
  return out;
}

/**
 * Why ACCESS (STACK_ACCESS) policies are refused. Spacelift deprecated them for space
 * roles, and Stackyard never evaluates them: accepting one would let a user believe it
 * restricts or grants access when it does neither.
 */
export const ACCESS_REFUSED =
  "type: ACCESS (STACK_ACCESS) policies are deprecated and Stackyard does not evaluate them; grant access with space roles instead (a LOGIN policy's roles[space_id] rule, or the space access of a user or API key)";

/** A policy type a caller may create or simulate (aliases resolved). */
export function typeOf(raw: string | undefined): PolicyType {
  const type = canonicalType(raw ?? "");
  if (!type)
    throw new ValidationError(
      `type ${JSON.stringify(raw)} is not a policy type`,
    );
  if (type === "ACCESS") throw new ValidationError(ACCESS_REFUSED);
  if (type === "INITIALIZATION")
    throw new ValidationError(
      "INITIALIZATION policies are evaluated on workers (SPACELIFT_LAUNCHER_RUN_INITIALIZATION_POLICY), not stored on the server",
    );
  return type;
}

/** A policy naming a space that does not exist is the client's mistake. */
export function missingSpace(err: unknown, spaceId: string): never {
  if (isForeignKeyViolation(err, "policies_space_id_fkey"))
    throw new ValidationError(`input.space: no space ${spaceId} exists`, {
      cause: err,
    });
  throw err;
}
