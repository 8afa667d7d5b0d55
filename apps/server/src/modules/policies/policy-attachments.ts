import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import {
  StackNotFoundError,
  type SpaceAccess,
  type Stack,
} from "../stacks/index.ts";
import { policyAutoAttaches, type PolicyAttachment } from "./policy.ts";
import { ACCESS_REFUSED, type PolicyGuards } from "./policy-guards.ts";
import * as repo from "./policy-repo.ts";

/**
 * Attachments of policies to stacks: explicit ones (stored) and auto-attachments by
 * `autoattach:` label (computed). A policy attaches only to stacks whose space is its
 * own or inherits from it (`access.usableSpaces`).
 */
export function createPolicyAttachments(
  deps: {
    db: Database;
    access: Pick<SpaceAccess, "assertCanRead" | "usableSpaces">;
    stacks: { loadStack(id: string): Promise<Stack | null> };
    clock: () => Date;
  },
  guards: Pick<PolicyGuards, "readable" | "loadAttachable">,
) {
  const { db, access, clock } = deps;
  const { readable, loadAttachable } = guards;
  const ulid = monotonicFactory();

  return {
    async attach(
      session: Session,
      policyId: string,
      stackId: string,
    ): Promise<PolicyAttachment> {
      const { policy, stack } = await loadAttachable(
        session,
        policyId,
        stackId,
      );
      // Stored before they were refused (or by an older version): never evaluated, so
      // an attachment would only pretend to protect the stack.
      if (policy.type === "ACCESS") throw new ValidationError(ACCESS_REFUSED);
      if (policy.type === "LOGIN" || policy.type === "NOTIFICATION")
        throw new ValidationError(
          `${policy.type} policies are not attached to stacks: they apply ${policy.type === "LOGIN" ? "to every login" : "to their space"}`,
        );
      const lineage = await access.usableSpaces(stack.spaceId);
      if (!lineage.includes(policy.spaceId))
        throw new ValidationError(
          `policy ${policy.id} lives in space ${policy.spaceId}, which is neither stack ${stack.id}'s space (${stack.spaceId}) nor an ancestor it inherits from (inheritEntities)`,
        );
      const existing = await repo.findAttachment(db, {
        policyId,
        stackId,
      });
      const row =
        existing ??
        (await repo.insertAttachment(
          db,
          { id: `pat_${ulid().toLowerCase()}`, policyId, stackId },
          clock(),
        ));
      return {
        id: row.id,
        policyId,
        policyName: policy.name,
        policyType: policy.type,
        stackId,
        stackName: stack.name,
        isAutoattached: false,
      };
    },

    async detach(
      session: Session,
      attachmentId: string,
    ): Promise<PolicyAttachment | null> {
      const row = await repo.findAttachment(db, { id: attachmentId });
      if (!row) return null;
      const { policy, stack } = await loadAttachable(
        session,
        row.policyId,
        row.stackId,
      );
      await repo.deleteAttachment(db, attachmentId);
      return {
        id: row.id,
        policyId: policy.id,
        policyName: policy.name,
        policyType: policy.type,
        stackId: stack.id,
        stackName: stack.name,
        isAutoattached: false,
      };
    },

    /** `Policy.attachedStack(id)`: the attachment of this policy to stack `stackId`. */
    async attachmentTo(
      session: Session,
      policyId: string,
      stackId: string,
    ): Promise<PolicyAttachment | null> {
      const policy = await readable(session, policyId);
      const stack = await deps.stacks.loadStack(stackId);
      if (!stack) return null;
      const explicit = await repo.findAttachment(db, { policyId, stackId });
      const lineage = await access.usableSpaces(stack.spaceId);
      const auto = policyAutoAttaches(policy, {
        labels: stack.labels,
        spaceLineage: lineage,
      });
      if (!explicit && !auto) return null;
      return {
        id: explicit?.id ?? `${policy.id}/autoattach/${stack.id}`,
        policyId,
        policyName: policy.name,
        policyType: policy.type,
        stackId,
        stackName: stack.name,
        isAutoattached: !explicit,
      };
    },

    /** `Stack.attachedPolicies`: explicit attachments, then auto-attached policies. */
    async attachedToStack(
      session: Session,
      stack: Pick<Stack, "id" | "name" | "labels" | "spaceId">,
    ): Promise<PolicyAttachment[]> {
      await access.assertCanRead(
        session,
        stack.spaceId,
        new StackNotFoundError(stack.id),
      );
      const lineage = await access.usableSpaces(stack.spaceId);
      const [explicit, candidates] = await Promise.all([
        repo.attachedToStack(db, stack.id),
        repo.autoattachCandidates(db, lineage),
      ]);
      const ids = new Set(explicit.map((e) => e.policy.id));
      const auto = candidates.filter(
        (c) =>
          !ids.has(c.id) &&
          policyAutoAttaches(c, {
            labels: stack.labels,
            spaceLineage: lineage,
          }),
      );
      return [
        ...explicit.map((e) => ({
          id: e.attachmentId,
          policyId: e.policy.id,
          policyName: e.policy.name,
          policyType: e.policy.type,
          stackId: stack.id,
          stackName: stack.name,
          isAutoattached: false,
        })),
        ...auto.map((p) => ({
          id: `${p.id}/autoattach/${stack.id}`,
          policyId: p.id,
          policyName: p.name,
          policyType: p.type,
          stackId: stack.id,
          stackName: stack.name,
          isAutoattached: true,
        })),
      ];
    },
  };
}
