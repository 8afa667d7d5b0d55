import type { Database } from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import { parseExact, stringifyExact } from "@stackyard/protocol";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { Session } from "../auth/index.ts";
import type { SpaceAccess } from "../stacks/index.ts";
import { canonicalType, type Policy, type PolicyType } from "./policy.ts";
import { SAMPLE_TTL_MS } from "./policy-evaluation.ts";
import type { PolicyGuards } from "./policy-guards.ts";
import * as repo from "./policy-repo.ts";

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

/**
 * Reading policies: search and listing (by name, cursor-paged, restricted to the spaces
 * the caller can read) and the evaluation samples of one policy.
 */
export function createPolicySearch(
  deps: {
    db: Database;
    access: Pick<SpaceAccess, "visibleSpaces">;
    storage: Pick<BlobStore, "get">;
    samplesBucket: string;
    clock: () => Date;
  },
  guards: Pick<PolicyGuards, "readable">,
) {
  const { db, access, clock } = deps;
  const { readable } = guards;

  async function search(session: Session, input: SearchArg) {
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
          spaces === "all" ? values : spaces.filter((s) => values.includes(s));
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
  }

  return {
    search,

    /** Every policy the session can read, by name, paging `search` to the end. */
    async listAll(session: Session): Promise<Policy[]> {
      const all: Policy[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await search(session, { first: MAX_PAGE, after });
        all.push(...page.policies);
        const last = page.policies.at(-1);
        if (!page.hasNextPage || !last) return all;
        after = page.cursorOf(last);
      }
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
      const doc = parseExact(stored.toString("utf8")) as {
        input: unknown;
        body: string;
        result: unknown;
      };
      return {
        input: stringifyExact(doc.input),
        body: doc.body,
        result: doc.result,
      };
    },
  };
}
