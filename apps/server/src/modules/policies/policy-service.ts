import { randomBytes } from "node:crypto";
import { monotonicFactory } from "ulid";
import {
  isForeignKeyViolation,
  type Database,
} from "../../platform/db/index.ts";
import {
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from "../../platform/errors.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { Session } from "../auth/index.ts";
import {
  slugify,
  StackNotFoundError,
  type SpaceAccess,
  type Stack,
} from "../stacks/index.ts";
import type { OpaClient } from "./opa-client.ts";
import {
  canonicalType,
  packageOf,
  policyAutoAttaches,
  rewriteSource,
  type EngineType,
  type Policy,
  type PolicyAttachment,
  type PolicyType,
} from "./policy.ts";
import { PolicyNotFoundError } from "./policy-errors.ts";
import { SAMPLE_TTL_MS } from "./policy-evaluation.ts";
import * as repo from "./policy-repo.ts";
import type { PolicyValidator } from "./policy-validation.ts";

export interface PolicyInput {
  name: string;
  body: string;
  type?: string;
  labels?: readonly string[] | null;
  space?: string | null;
  description?: string | null;
  engineType?: EngineType | null;
}

/** `searchPolicies` / `searchEvaluationRecords` input (graphql SearchInput). */
export interface SearchArg {
  first?: number | null;
  after?: string | null;
  fullTextSearch?: string | null;
  predicates?: Array<{
    field: string;
    constraint: {
      booleanEquals?: boolean[] | null;
      enumEquals?: string[] | null;
      stringMatches?: string[] | null;
    };
    exclude?: boolean | null;
  }> | null;
}

const PAGE = 50;
const MAX_PAGE = 100;

function pageSize(first: number | null | undefined, what: string): number {
  const n = first ?? PAGE;
  if (!Number.isInteger(n) || n < 1)
    throw new ValidationError(`${what} input.first must be a positive integer`);
  return Math.min(n, MAX_PAGE);
}

function encodeCursor(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString("base64url");
}

function decodeCursor<T>(cursor: string, what: string): T {
  try {
    return JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as T;
  } catch {
    throw new ValidationError(
      `${what} input.after is not a cursor this API returned`,
    );
  }
}

/** Bounds of `policySimulate` (see `simulate`). */
export const MAX_SIMULATION_INPUT_BYTES = 1024 * 1024;
export const SIMULATION_TIMEOUT_MS = 10_000;

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
 * attachments to stacks, listing, samples, simulation and the engine version.
 *
 * Access: reading a policy needs READ on its space; creating, changing and deleting it
 * needs ADMIN there, and LOGIN policies (global, spacelift-reference §1.8) need an admin
 * session. Attaching needs ADMIN on the stack's space, and the policy must live in the
 * stack's space or an ancestor it inherits from (`access.usableSpaces`). A policy the
 * caller cannot read is "not found".
 */
export function createPolicyService(deps: PolicyServiceDeps) {
  const { db, access, clock } = deps;
  const ulid = monotonicFactory();

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

  function cleanLabels(labels: readonly string[] | null | undefined) {
    const out = [...new Set((labels ?? []).map((l) => l.trim()))];
    if (out.some((l) => l === ""))
      throw new ValidationError("labels must not be empty strings");
    return out;
  }

  function typeOf(raw: string | undefined): PolicyType {
    const type = canonicalType(raw ?? "");
    if (!type)
      throw new ValidationError(
        `type ${JSON.stringify(raw)} is not a policy type`,
      );
    if (type === "INITIALIZATION")
      throw new ValidationError(
        "INITIALIZATION policies are evaluated on workers (SPACELIFT_LAUNCHER_RUN_INITIALIZATION_POLICY), not stored on the server",
      );
    return type;
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

  const service = {
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

    /** Every policy the session can read, by name, paging `search` to the end. */
    async listAll(session: Session): Promise<Policy[]> {
      const all: Policy[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await service.search(session, { first: MAX_PAGE, after });
        all.push(...page.policies);
        const last = page.policies.at(-1);
        if (!page.hasNextPage || !last) return all;
        after = page.cursorOf(last);
      }
    },

    async search(session: Session, input: SearchArg) {
      const first = pageSize(input.first, "searchPolicies");
      const after = input.after
        ? decodeCursor<{ name: string; id: string }>(
            input.after,
            "searchPolicies",
          )
        : null;
      let types: PolicyType[] | undefined;
      let spaces = await access.visibleSpaces(session);
      let labels: string[] | null = null;
      for (const [i, p] of (input.predicates ?? []).entries()) {
        const values = [
          ...(p.constraint.stringMatches ?? []),
          ...(p.constraint.enumEquals ?? []),
        ];
        if (p.exclude)
          throw new ValidationError(
            `searchPolicies input.predicates[${i}]: exclude is not supported for policies`,
          );
        if (p.field === "type")
          types = values.map((v) => {
            const t = canonicalType(v);
            if (!t)
              throw new ValidationError(
                `searchPolicies input.predicates[${i}]: ${v} is not a policy type`,
              );
            return t;
          });
        else if (p.field === "space")
          spaces =
            spaces === "all"
              ? values
              : spaces.filter((s) => values.includes(s));
        else if (p.field === "label" || p.field === "labels") labels = values;
        else
          throw new ValidationError(
            `searchPolicies input.predicates[${i}].field: ${p.field} is not searchable; use type, space or labels`,
          );
      }
      const rows = await repo.listPolicies(db, {
        spaces,
        types,
        text: input.fullTextSearch?.trim() || null,
        after,
        limit: labels ? MAX_PAGE * 10 : first + 1,
      });
      const wanted = labels;
      const matching = wanted
        ? rows.filter((r) => r.labels.some((l) => wanted.includes(l)))
        : rows;
      const page = matching.slice(0, first);
      return {
        policies: page,
        cursorOf: (p: Policy) => encodeCursor({ name: p.name, id: p.id }),
        hasNextPage: matching.length > first,
      };
    },

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

    /** Samples of the last 7 days, newest first (`evaluationRecords`, S58). */
    async samples(session: Session, policyId: string, input: SearchArg | null) {
      await readable(session, policyId);
      const first = input
        ? pageSize(input.first, "searchEvaluationRecords")
        : 100;
      const before = input?.after
        ? decodeCursor<{ at: string; key: string }>(
            input.after,
            "searchEvaluationRecords",
          )
        : null;
      let outcomes: string[] | null = null;
      for (const [i, p] of (input?.predicates ?? []).entries()) {
        if (p.field !== "outcome")
          throw new ValidationError(
            `searchEvaluationRecords input.predicates[${i}].field: ${p.field} is not searchable; use outcome`,
          );
        outcomes = [
          ...(p.constraint.stringMatches ?? []),
          ...(p.constraint.enumEquals ?? []),
        ];
      }
      const rows = await repo.listSamples(db, policyId, {
        since: new Date(clock().getTime() - SAMPLE_TTL_MS),
        limit: first + 1,
        outcomes,
        before: before ? { at: new Date(before.at), key: before.key } : null,
      });
      return {
        records: rows.slice(0, first),
        hasNextPage: rows.length > first,
        cursorOf: (r: repo.SampleRow) =>
          encodeCursor({ at: r.createdAt.toISOString(), key: r.key }),
      };
    },

    /** One stored sample: the input document (JSON text) and the body evaluated. */
    async sample(
      session: Session,
      policyId: string,
      key: string,
    ): Promise<{ input: string; body: string; result: unknown } | null> {
      await readable(session, policyId);
      const row = await repo.findSample(db, policyId, key);
      if (!row || row.createdAt.getTime() < clock().getTime() - SAMPLE_TTL_MS)
        return null;
      let stored: Buffer;
      try {
        stored = await deps.storage.get(
          deps.samplesBucket,
          `${policyId}/${key}.json`,
        );
      } catch {
        return null;
      }
      const doc = JSON.parse(stored.toString("utf8")) as {
        input: unknown;
        body: string;
        result: unknown;
      };
      return {
        input: JSON.stringify(doc.input),
        body: doc.body,
        result: doc.result,
      };
    },

    /**
     * Evaluates `body` against `input` (JSON text) without saving anything; returns the
     * package document as JSON text (S57). The body is checked like a saved one.
     */
    /**
     * Evaluates a body without saving it. Only someone who could save such a policy
     * may (ADMIN on the caller's home space, where a new policy would go; an admin
     * session for LOGIN): a simulation runs arbitrary Rego on the shared OPA. The input
     * is at most MAX_SIMULATION_INPUT_BYTES and the evaluation at most
     * SIMULATION_TIMEOUT_MS (or the type's shorter timeout), so one call cannot hold
     * OPA for long or feed it an unbounded document.
     */
    async simulate(
      session: Session,
      args: { body: string; input: string; type: string },
    ): Promise<string> {
      const type = typeOf(args.type);
      const spaceId = await access.homeSpace(session);
      await access.assertCanAdmin(
        session,
        spaceId,
        new ForbiddenError(
          "policySimulate: simulating a policy needs the rights to create one (ADMIN on your space)",
        ),
      );
      if (type === "LOGIN" && !session.admin)
        throw new ForbiddenError(
          "policySimulate: login policies are global: only an admin can simulate them",
        );
      if (Buffer.byteLength(args.input) > MAX_SIMULATION_INPUT_BYTES)
        throw new ValidationError(
          `policySimulate input: the input document is larger than ${MAX_SIMULATION_INPUT_BYTES} bytes`,
        );
      let input: unknown;
      try {
        input = JSON.parse(args.input);
      } catch (err) {
        throw new ValidationError(
          `policySimulate input: must be a JSON document: ${(err as Error).message}`,
        );
      }
      const engineType = await deps.validator.validate(args.body);
      const id = `sim_${randomBytes(8).toString("hex")}`;
      const pkg = packageOf(id);
      try {
        const result = await deps.opa.evaluate(
          { id, pkg, source: rewriteSource(args.body, pkg, engineType) },
          input,
          Math.min(deps.timeoutOf(type), SIMULATION_TIMEOUT_MS),
        );
        return JSON.stringify(result);
      } finally {
        await deps.opa.remove(id).catch(() => undefined);
      }
    },

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
  return service;
}

export type PolicyService = ReturnType<typeof createPolicyService>;

/** A policy naming a space that does not exist is the client's mistake. */
function missingSpace(err: unknown, spaceId: string): never {
  if (isForeignKeyViolation(err, "policies_space_id_fkey"))
    throw new ValidationError(`input.space: no space ${spaceId} exists`, {
      cause: err,
    });
  throw err;
}
