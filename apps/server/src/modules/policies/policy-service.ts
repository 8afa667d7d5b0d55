import type { Database } from "../../platform/db/index.ts";
import { NotFoundError, ValidationError } from "../../platform/errors.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { Session } from "../auth/index.ts";
import { slugify, type SpaceAccess, type Stack } from "../stacks/index.ts";
import type { OpaClient } from "./opa-client.ts";
import type { EngineType, Policy, PolicyType } from "./policy.ts";
import { createPolicyAttachments } from "./policy-attachments.ts";
import { PolicyNotFoundError } from "./policy-errors.ts";
import {
  cleanLabels,
  createPolicyGuards,
  missingSpace,
  typeOf,
} from "./policy-guards.ts";
import * as repo from "./policy-repo.ts";
import { createPolicySearch } from "./policy-search.ts";
import { createPolicySimulation } from "./policy-simulation.ts";
import type { PolicyValidator } from "./policy-validation.ts";

export type { SearchArg } from "./policy-search.ts";
export {
  MAX_SIMULATION_INPUT_BYTES,
  SIMULATION_TIMEOUT_MS,
} from "./policy-simulation.ts";

export interface PolicyInput {
  name: string;
  body: string;
  type?: string;
  labels?: readonly string[] | null;
  space?: string | null;
  description?: string | null;
  engineType?: EngineType | null;
}

export interface PolicyServiceDeps {
  db: Database;
  access: Pick<
    SpaceAccess,
    | "assertCanRead"
    | "assertCanAdmin"
    | "visibleSpaces"
    | "homeSpace"
    | "usableSpaces"
  >;
  stacks: { loadStack(id: string): Promise<Stack | null> };
  validator: Pick<PolicyValidator, "validate">;
  opa: Pick<OpaClient, "evaluate" | "remove" | "version">;
  storage: Pick<BlobStore, "get">;
  samplesBucket: string;
  clock: () => Date;
  /** The evaluation timeout of a type (simulations get the same budget). */
  timeoutOf: (type: PolicyType) => number;
}

/**
 * Policy management: create/update/delete (bodies checked by OPA before they are saved),
 * attachments to stacks (policy-attachments.ts), listing and samples
 * (policy-search.ts), simulation (policy-simulation.ts) and the engine version.
 *
 * Access (policy-guards.ts): reading a policy needs READ on its space; creating,
 * changing and deleting it needs ADMIN there, and LOGIN policies (global,
 * spacelift-reference §1.8) need an admin session. Attaching needs ADMIN on the stack's
 * space, and the policy must live in the stack's space or an ancestor it inherits from
 * (`access.usableSpaces`). A policy the caller cannot read is "not found".
 */
export function createPolicyService(deps: PolicyServiceDeps) {
  const { db, access, clock } = deps;
  const guards = createPolicyGuards(deps);
  const { readable, administrable } = guards;

  /** Login policies changed: sessions other than the changer's are refused from now on. */
  async function loginPoliciesChanged(session: Session, type: PolicyType) {
    if (type !== "LOGIN") return;
    await repo.recordLoginPolicyChange(
      db,
      `${session.kind === "api_key" ? "api_key" : "user"}:${session.id}`,
      clock(),
    );
  }
  let lastChange: {
    read: number;
    value: Promise<{ at: Date; by: string } | null>;
  } | null = null;

  return {
    async create(session: Session, input: PolicyInput): Promise<Policy> {
      const name = input.name.trim();
      if (!name) throw new ValidationError("input.name must not be empty");
      const type = typeOf(input.type);
      const spaceId = input.space?.trim() || (await access.homeSpace(session));
      await administrable(session, { id: name, type, spaceId });
      const labels = cleanLabels(input.labels);
      if (type === "LOGIN" && labels.some((l) => l.startsWith("autoattach:")))
        throw new ValidationError(
          "input.labels: login policies are global and cannot auto-attach",
        );
      const engineType = await deps.validator.validate(
        input.body,
        input.engineType,
      );
      const slug = slugify(name, "policy");
      const taken = await repo.policyIdsLike(db, slug);
      let id = slug;
      for (let n = 2; taken.includes(id); n++) id = `${slug}-${n}`;
      const created = await repo
        .insertPolicy(
          db,
          {
            id,
            name,
            description: input.description?.trim() ?? "",
            type,
            body: input.body,
            labels,
            spaceId,
            engineType,
          },
          clock(),
        )
        .catch((err: unknown) => missingSpace(err, spaceId));
      await loginPoliciesChanged(session, type);
      return created;
    },

    async update(
      session: Session,
      id: string,
      input: Omit<PolicyInput, "type">,
    ): Promise<Policy> {
      const current = await readable(session, id);
      await administrable(session, current);
      const spaceId = input.space?.trim() || current.spaceId;
      if (spaceId !== current.spaceId)
        await administrable(session, { ...current, spaceId });
      const name = input.name.trim();
      if (!name) throw new ValidationError("input.name must not be empty");
      const labels = cleanLabels(input.labels);
      if (
        current.type === "LOGIN" &&
        labels.some((l) => l.startsWith("autoattach:"))
      )
        throw new ValidationError(
          "input.labels: login policies are global and cannot auto-attach",
        );
      const engineType = await deps.validator.validate(
        input.body,
        input.engineType,
      );
      const updated = await repo
        .updatePolicy(
          db,
          id,
          {
            name,
            description: input.description?.trim() ?? current.description,
            body: input.body,
            labels,
            spaceId,
            engineType,
          },
          clock(),
        )
        .catch((err: unknown) => missingSpace(err, spaceId));
      if (!updated) throw new PolicyNotFoundError(id);
      await loginPoliciesChanged(session, updated.type);
      return updated;
    },

    async delete(session: Session, id: string): Promise<Policy> {
      const policy = await readable(session, id);
      await administrable(session, policy);
      await repo.deletePolicy(db, id);
      await loginPoliciesChanged(session, policy.type);
      await deps.opa.remove(`p_${id}`).catch(() => undefined);
      return policy;
    },

    /** The policy, or null when it does not exist or is hidden from the caller. */
    async find(session: Session, id: string): Promise<Policy | null> {
      try {
        return await readable(session, id);
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },

    ...createPolicySearch(deps, guards),
    ...createPolicyAttachments(deps, guards),
    ...createPolicySimulation(deps),

    runtimeVersion: () => deps.opa.version(),

    /**
     * The last change to login policies (for the auth module's session check), read at
     * most once a second per process: another replica's change reaches this one within
     * that second.
     */
    lastLoginPolicyChange(): Promise<{ at: Date; by: string } | null> {
      const now = Date.now();
      if (!lastChange || now - lastChange.read > 1000) {
        const value = repo.lastLoginPolicyChange(db);
        lastChange = { read: now, value };
        value.catch(() => {
          lastChange = null;
        });
      }
      return lastChange.value;
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
