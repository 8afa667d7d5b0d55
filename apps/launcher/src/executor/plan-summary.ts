import {
  isLosslessNumber,
  SENSITIVE_PLACEHOLDER,
  UNKNOWN_PLACEHOLDER,
  type PlanDocument,
} from "@stackyard/protocol";
import type { PlanSummary } from "./run-spec.ts";

export const SENSITIVE = SENSITIVE_PLACEHOLDER;
export const UNKNOWN = UNKNOWN_PLACEHOLDER;

interface JsonChange {
  actions?: string[];
  before?: unknown;
  after?: unknown;
  after_unknown?: unknown;
  before_sensitive?: unknown;
  after_sensitive?: unknown;
}

interface JsonPlan {
  terraform_version?: string;
  resource_changes?: Array<{
    address?: string;
    previous_address?: string;
    mode?: string;
    type?: string;
    name?: string;
    provider_name?: string;
    change?: JsonChange;
  }>;
  output_changes?: Record<string, JsonChange>;
}

/** A JSON object (not an array, nor a number `parseExact` kept as written). */
function isRecord(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !isLosslessNumber(v)
  );
}

/**
 * A value from `show -json` made safe to leave the worker: parts marked in the
 * `*_sensitive` mirror become SENSITIVE, parts marked in `after_unknown` become
 * UNKNOWN (they are absent or null in `after`), strings are passed through `mask`.
 */
function redact(
  value: unknown,
  sensitive: unknown,
  unknown: unknown,
  mask: (s: string) => string,
): unknown {
  if (sensitive === true) return SENSITIVE;
  if (unknown === true) return UNKNOWN;
  if (Array.isArray(value)) {
    const s = Array.isArray(sensitive) ? sensitive : [];
    const u = Array.isArray(unknown) ? unknown : [];
    return value.map((v, i) => redact(v, s[i], u[i], mask));
  }
  if (isRecord(value) || isRecord(unknown)) {
    const v = isRecord(value) ? value : {};
    const s = isRecord(sensitive) ? sensitive : {};
    const u = isRecord(unknown) ? unknown : {};
    const out: Record<string, unknown> = {};
    // Keys are masked too: a map's keys can be user data (tags, for_each keys).
    for (const key of new Set([...Object.keys(v), ...Object.keys(u)]))
      out[mask(key)] = redact(v[key], s[key], u[key], mask);
    return out;
  }
  return typeof value === "string" ? mask(value) : value;
}

const isNoop = (actions: string[]) =>
  actions.length === 1 && actions[0] === "no-op";

/**
 * Builds the PlanSummary from `tofu show -json <planfile>`. Counts follow the CLI's
 * "Plan: N to add, N to change, N to destroy": a replacement counts once in add and
 * once in destroy; reads of data sources count nowhere.
 */
export function summarizePlan(
  json: unknown,
  hasChanges: boolean,
  mask: (s: string) => string,
): PlanSummary {
  const plan = (isRecord(json) ? json : {}) as JsonPlan;
  const summary: PlanSummary = {
    hasChanges,
    add: 0,
    change: 0,
    destroy: 0,
    resources: [],
    outputs: [],
  };
  for (const rc of plan.resource_changes ?? []) {
    const change = rc.change ?? {};
    const actions = change.actions ?? [];
    if (isNoop(actions)) continue;
    if (actions.includes("create")) summary.add++;
    if (actions.includes("update")) summary.change++;
    if (actions.includes("delete")) summary.destroy++;
    summary.resources.push({
      address: mask(rc.address ?? ""),
      actions,
      before: redact(change.before, change.before_sensitive, undefined, mask),
      after: redact(
        change.after,
        change.after_sensitive,
        change.after_unknown,
        mask,
      ),
    });
  }
  for (const [name, change] of Object.entries(plan.output_changes ?? {})) {
    const actions = change.actions ?? [];
    if (!isNoop(actions)) summary.outputs.push({ name, actions });
  }
  return summary;
}

/**
 * The plan document from `tofu show -json <planfile>`: every entry of
 * `resource_changes` (no-ops included, as plan policies see them) with `before`/`after`
 * made safe to leave the worker the same way as in the summary: values marked in
 * `before_sensitive`/`after_sensitive` (at any depth of maps and lists) become
 * SENSITIVE, values known only after apply UNKNOWN, and every string goes through
 * `mask` (the run's secrets and `::add-mask` words, as in logs), map keys and
 * addresses included, since for_each keys and tags are user data.
 */
export function planDocumentOf(
  json: unknown,
  mask: (s: string) => string,
): PlanDocument {
  const plan = (isRecord(json) ? json : {}) as JsonPlan;
  return {
    terraform_version: plan.terraform_version ?? "",
    resource_changes: (plan.resource_changes ?? [])
      .filter((rc) => typeof rc.address === "string" && rc.address !== "")
      .map((rc) => {
        const change = rc.change ?? {};
        const actions = change.actions?.length ? change.actions : ["no-op"];
        return {
          address: mask(rc.address ?? ""),
          ...(rc.previous_address
            ? { previous_address: mask(rc.previous_address) }
            : {}),
          ...(rc.mode ? { mode: rc.mode } : {}),
          type: rc.type ?? "",
          name: rc.name ?? "",
          provider_name: rc.provider_name ?? "",
          change: {
            actions,
            before:
              redact(change.before, change.before_sensitive, undefined, mask) ??
              null,
            after:
              redact(
                change.after,
                change.after_sensitive,
                change.after_unknown,
                mask,
              ) ?? null,
          },
        };
      }),
  };
}
