/**
 * The policies module's domain types and pure rules: policy types and their deprecated
 * aliases, the Rego source rewrite that gives each policy its own package, attachment by
 * label, and how the results of several policies of one type combine. No I/O here.
 */
import { stringifyExact } from "@stackyard/protocol";

/** Stored policy types (graphql `PolicyType` minus the deprecated aliases). */
export const POLICY_TYPES = [
  "ACCESS",
  "APPROVAL",
  "GIT_PUSH",
  "INITIALIZATION",
  "INTENT",
  "LOGIN",
  "NOTIFICATION",
  "PLAN",
  "TASK",
  "TRIGGER",
] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** Deprecated `PolicyType` values and the type they are stored as (spacelift-reference §2). */
const ALIASES: Readonly<Record<string, PolicyType>> = {
  STACK_ACCESS: "ACCESS",
  TASK_RUN: "TASK",
  TERRAFORM_PLAN: "PLAN",
};

export function canonicalType(type: string): PolicyType | null {
  if ((POLICY_TYPES as readonly string[]).includes(type))
    return type as PolicyType;
  return ALIASES[type] ?? null;
}

export type EngineType = "REGO_V0" | "REGO_V1";

export interface Policy {
  id: string;
  name: string;
  description: string;
  type: PolicyType;
  body: string;
  labels: string[];
  spaceId: string;
  engineType: EngineType;
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicyAttachment {
  id: string;
  policyId: string;
  policyName: string;
  policyType: PolicyType;
  stackId: string;
  stackName: string;
  isAutoattached: boolean;
}

/**
 * Built-ins a policy may not call: Spacelift's list (spacelift-reference §2, "Evaluation")
 * plus `net.lookup_ip_addr`, a DNS query from the server's network that would let a
 * policy probe internal names or leak data through lookups. Policies see the outside
 * world only through their input; the other time built-ins (`time.date`, `time.diff`, …)
 * work on values given to them and stay, and so does `rand.intn` (cached per query).
 */
export const DISABLED_BUILTINS = [
  "http.send",
  "net.lookup_ip_addr",
  "opa.runtime",
  "rego.parse_module",
  "time.now_ns",
  "trace",
] as const;

const AUTOATTACH_PREFIX = "autoattach:";

/**
 * Whether a policy auto-attaches to a stack: one of its labels is `autoattach:*` or
 * `autoattach:<a label of the stack>`, and the policy's space is one the stack may use
 * (`spaceLineage`: the stack's space and the ancestors it inherits from). Login
 * policies never auto-attach (they are global).
 */
export function policyAutoAttaches(
  policy: Pick<Policy, "labels" | "spaceId" | "type">,
  stack: { labels: readonly string[]; spaceLineage: readonly string[] },
): boolean {
  if (policy.type === "LOGIN") return false;
  if (!stack.spaceLineage.includes(policy.spaceId)) return false;
  const stackLabels = new Set(stack.labels);
  return policy.labels.some((label) => {
    if (!label.startsWith(AUTOATTACH_PREFIX)) return false;
    const target = label.slice(AUTOATTACH_PREFIX.length);
    return target === "*" || (target !== "" && stackLabels.has(target));
  });
}

/** The OPA package of a stored policy: `spacelift.p_<id with - as _>`. */
export function packageOf(policyId: string): string {
  return `spacelift.p_${policyId.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** `data.spacelift` not followed by more of an identifier (`data.spacelift_x` is not it). */
const SELF_REFERENCE = /\bdata\.spacelift(?![A-Za-z0-9_])/g;

const PACKAGE_LINE =
  /^([ \t]*)package[ \t]+([A-Za-z_][A-Za-z0-9_.]*)[ \t]*(#.*)?$/m;

/**
 * The source uploaded to OPA: the user's `package spacelift` becomes `package <pkg>` on
 * the same line, and for a REGO_V1 body `import rego.v1` is appended to that line (the
 * OPA server runs in v0-compatible mode; the import switches one module to v1) unless
 * the body imports it itself. References to the policy's own package by its full path
 * (`data.spacelift.deny`, `data.spacelift[x]`) become `data.<pkg>…`, so they read the
 * policy's own rules as they do in Spacelift, where every policy is alone in
 * `package spacelift`. No line is added or removed, so OPA's row numbers are the user's.
 */
export function rewriteSource(
  body: string,
  pkg: string,
  engine: EngineType,
): string {
  const m = PACKAGE_LINE.exec(body);
  if (!m) throw new Error("the policy has no package line");
  const needsImport =
    engine === "REGO_V1" &&
    !/^[ \t]*import[ \t]+rego\.v1[ \t]*(#.*)?$/m.test(body);
  const line = `${m[1] ?? ""}package ${pkg}${needsImport ? " import rego.v1" : ""}`;
  const rest = body
    .slice(m.index + m[0].length)
    .replace(SELF_REFERENCE, `data.${pkg}`);
  return withHelpers(body.slice(0, m.index) + line + rest, engine);
}

/**
 * Spacelift's `sanitized(x)` helper (spacelift-reference §2): the last 8 hex characters
 * of the sha256 of a string (of its JSON for other values). It is appended after the
 * user's last line, so no row moves, when the body calls it without defining it.
 */
export function withHelpers(body: string, engine: EngineType): string {
  if (!/\bsanitized\s*\(/.test(body) || /^[ \t]*sanitized\s*\(/m.test(body))
    return body;
  const kw = engine === "REGO_V1" ? " if" : "";
  return `${body}${body.endsWith("\n") ? "" : "\n"}
sanitized(x) := y${kw} {
  is_string(x)
  y := substring(crypto.sha256(x), 56, 8)
}

sanitized(x) := y${kw} {
  not is_string(x)
  y := substring(crypto.sha256(json.marshal(x)), 56, 8)
}
`;
}

/** The package the user declared, or null when there is no package line. */
export function declaredPackage(body: string): string | null {
  return PACKAGE_LINE.exec(body)?.[2] ?? null;
}

/** One policy's raw OPA result (the package document), normalised to what the rules use. */
export type PolicyResult = Record<string, unknown>;

/** A rule's value as a list of strings: sets (arrays) of strings, a single string, or true. */
export function stringsOf(value: unknown): string[] {
  if (Array.isArray(value))
    return value.map((v) => (typeof v === "string" ? v : stringifyExact(v)));
  if (typeof value === "string") return [value];
  return [];
}

export function isTrue(value: unknown): boolean {
  return value === true;
}

/**
 * The flags of a run after one policy's `flag` and `reset_flag` (spacelift-reference §2:
 * flags pass between policy types on the same run): reset first, then added; sorted and
 * unique so repeated evaluations store the same value.
 */
export function applyFlags(
  current: readonly string[],
  result: PolicyResult,
): string[] {
  const reset = new Set(stringsOf(result.reset_flag));
  const next = new Set(current.filter((f) => !reset.has(f)));
  for (const f of stringsOf(result.flag)) next.add(f);
  return [...next].sort();
}
