/**
 * Server configuration: parsed once at startup from defaults < config.json < environment < flags,
 * validated by one zod schema plus cross-field rules, returned frozen. Owns the variable names,
 * their defaults and docs/configuration.md (generated from configReference). Nothing else reads
 * process.env for settings. It does not create anything: no directories, keys or buckets.
 */
import type { z } from "zod";
import {
  ConfigError,
  REDACTED,
  displayValue,
  redactUrlPassword,
  type ConfigIssue,
  type ConfigSource,
} from "./config-errors.ts";
import { secretJsonPaths, settings, type Setting } from "./config-reference.ts";
import { checkConfigRules, type RuleIssue } from "./config-rules.ts";
import {
  configSchema,
  finalizeConfig,
  type Config,
  type ParsedConfig,
} from "./config-schema.ts";
import {
  collectInputs,
  getPath,
  type CollectedInputs,
  type ConfigSources,
} from "./config-sources.ts";

export {
  ConfigError,
  formatConfigIssues,
  type ConfigIssue,
} from "./config-errors.ts";
export {
  configReference,
  type ConfigReferenceEntry,
} from "./config-reference.ts";
export type { BucketName, Config, Role, SsoConfig } from "./config-schema.ts";
export type { PolicyTimeoutType } from "./config-schema.ts";
export type { ConfigSources } from "./config-sources.ts";

const settingsByKey = new Map(settings.map((s) => [s.key, s]));
const primaryName = (s: Setting | undefined, key: string) =>
  s?.env[0] ?? s?.json[0] ?? key;

/** Loads and validates the config; throws ConfigError listing every problem at once. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const result = validateConfig(sources);
  if (!result.ok) throw new ConfigError(result.issues);
  return result.config;
}

export function validateConfig(
  sources: ConfigSources = {},
): { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] } {
  const input = collectInputs(sources);
  const issues = [...input.issues];
  const invalidKeys = new Set<string>();

  let parsed: ParsedConfig;
  const first = configSchema.safeParse(input.candidate);
  if (first.success) {
    parsed = first.data;
  } else {
    for (const zodIssue of first.error.issues) {
      const mapped = mapSchemaIssue(zodIssue, input);
      invalidKeys.add(mapped.key);
      issues.push(...mapped.issues);
    }
    // Parse again with the invalid leaves unset (so defaulted) to run the cross-field rules on
    // the rest: every problem is reported in one go, none twice.
    const candidate = structuredClone(input.candidate);
    for (const key of invalidKeys) setLeaf(candidate, key, undefined);
    const retry = configSchema.safeParse(candidate);
    if (!retry.success) return { ok: false, issues };
    parsed = retry.data;
  }

  // A config file that did not load would make every rule about its values fire spuriously.
  if (!input.configFileFailed) {
    const nameOf = (key: string) =>
      input.origins.get(key)?.name ?? primaryName(settingsByKey.get(key), key);
    for (const rule of checkConfigRules(parsed, { nameOf })) {
      if ([rule.key, ...rule.related].some((k) => invalidKeys.has(k))) continue;
      issues.push(mapRuleIssue(rule, input, parsed));
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    config: deepFreeze(
      finalizeConfig(parsed, { cwd: input.cwd, configFile: input.configFile }),
    ),
  };
}

/** The config as a plain object with every secret replaced, for a startup log line. */
export function describeEffectiveConfig(c: Config): Record<string, unknown> {
  const copy = structuredClone(c) as unknown as Record<string, unknown>;
  for (const s of settings) {
    const value = getPath(copy, s.key);
    if (!s.redact || typeof value !== "string") continue;
    setLeaf(
      copy,
      s.key,
      s.redact === "all" ? REDACTED : redactUrlPassword(value),
    );
  }
  if (c.sso?.oidc) setLeaf(copy, "sso.oidc.clientCredentials", REDACTED);
  return copy;
}

function mapSchemaIssue(
  issue: z.core.$ZodIssue,
  input: CollectedInputs,
): { key: string; issues: ConfigIssue[] } {
  const segs = issue.path;
  let split = segs.length;
  while (split > 0 && !settingsByKey.has(segs.slice(0, split).join(".")))
    split--;
  const key = split > 0 ? segs.slice(0, split).join(".") : segs.join(".");
  const rest = segs.slice(split);
  if (issue.code === "unrecognized_keys") {
    return {
      key,
      issues: issue.keys.map((k) =>
        describe(key, [...rest, k], "unknown field", input, undefined),
      ),
    };
  }
  return {
    key,
    issues: [describe(key, rest, issue.message, input, undefined)],
  };
}

function mapRuleIssue(
  rule: RuleIssue,
  input: CollectedInputs,
  parsed: ParsedConfig,
): ConfigIssue {
  return describe(rule.key, [], rule.message, input, getPath(parsed, rule.key));
}

/** Names the field the way the user set it and shows its value, redacted where secret. */
function describe(
  key: string,
  rest: PropertyKey[],
  message: string,
  input: CollectedInputs,
  effective: unknown,
): ConfigIssue {
  const setting = settingsByKey.get(key);
  const origin = input.origins.get(key);
  if (!origin) {
    const value =
      effective === null || effective === undefined
        ? ""
        : displayValue(effective);
    return {
      source: "default" satisfies ConfigSource,
      path: primaryName(setting, key),
      value,
      message,
    };
  }
  const inJson = origin.source === "config.json";
  const path = inJson
    ? origin.name +
      rest
        .map((s) => (typeof s === "number" ? `[${s}]` : `.${String(s)}`))
        .join("")
    : origin.name;
  let raw = origin.raw;
  for (const seg of inJson ? rest : [])
    raw =
      raw !== null && typeof raw === "object"
        ? (raw as Record<PropertyKey, unknown>)[seg]
        : undefined;
  let value: string;
  if (setting?.redact === "all" || secretJsonPaths.has(path)) value = REDACTED;
  else if (setting?.redact === "url-password")
    value =
      typeof raw === "string"
        ? JSON.stringify(redactUrlPassword(raw))
        : displayValue(raw);
  else value = displayValue(raw);
  return { source: origin.source, path, value, message };
}

function setLeaf(
  obj: Record<string, unknown>,
  dotted: string,
  value: unknown,
): void {
  const segs = dotted.split(".");
  const last = segs.pop() as string;
  const parent = segs.length > 0 ? getPath(obj, segs.join(".")) : obj;
  if (parent !== null && typeof parent === "object")
    (parent as Record<string, unknown>)[last] = value;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
