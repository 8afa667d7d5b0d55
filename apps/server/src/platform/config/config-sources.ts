import { readFileSync } from "node:fs";
import path from "node:path";
import { displayValue, type ConfigIssue } from "./config-errors.ts";
import {
  fileVariant,
  ignoredJsonFields,
  settings,
  ssoJsonFields,
  type FlagName,
} from "./config-reference.ts";

export interface ConfigSources {
  /** Defaults to process.env: the only place the server reads it. */
  env?: Record<string, string | undefined>;
  /** Environment variables a command sets unless `env` sets them (`up`'s own defaults). */
  envDefaults?: Record<string, string>;
  /** config.json to read; undefined falls back to STACKYARD_CONFIG_FILE, null reads none. */
  configFile?: string | null;
  flags?: {
    dataDir?: string;
    port?: number;
    mqttPort?: number;
    roles?: string[];
    healthPort?: number;
  };
  /** Base for relative paths from the environment and flags. Defaults to process.cwd(). */
  cwd?: string;
}

/** Where the winning value of one setting came from; raw is as given (after "" => unset). */
export interface Origin {
  source: "config.json" | "environment" | "flag";
  name: string;
  raw: unknown;
}

export interface CollectedInputs {
  /** Nested object keyed like configSchema, one raw value per setting (undefined when unset). */
  candidate: Record<string, unknown>;
  origins: Map<string, Origin>;
  configFile: string | null;
  /** True when a config file was named but could not be read or parsed. */
  configFileFailed: boolean;
  cwd: string;
  issues: ConfigIssue[];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

const isUnset = (v: unknown) => v === undefined || v === null || v === "";

export function getPath(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const seg of dotted.split(".")) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

function setPath(
  obj: Record<string, unknown>,
  dotted: string,
  value: unknown,
): void {
  const segs = dotted.split(".");
  const last = segs.pop() as string;
  let cur = obj;
  for (const seg of segs) {
    const next = cur[seg];
    cur = isPlainObject(next) ? next : (cur[seg] = {});
  }
  cur[last] = value;
}

/** Reads defaults < config.json < environment < flags into one candidate; validation comes later. */
export function collectInputs(sources: ConfigSources): CollectedInputs {
  const env = { ...sources.envDefaults, ...(sources.env ?? process.env) };
  const cwd = sources.cwd ?? process.cwd();
  const issues: ConfigIssue[] = [];
  const named =
    sources.configFile !== undefined
      ? sources.configFile
      : env["STACKYARD_CONFIG_FILE"] || null;
  const configFile = named ? path.resolve(cwd, named) : null;

  let doc: Record<string, unknown> | null = null;
  if (configFile) {
    const read = readConfigFile(configFile);
    if ("issue" in read) issues.push(read.issue);
    else {
      doc = read.doc;
      issues.push(...checkJsonFields(doc));
    }
  }

  const candidate: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();
  for (const setting of settings) {
    const origin =
      fromFlag(setting.flag?.name, setting.flag?.cli, sources.flags) ??
      fromEnv(setting.env, setting.redact !== undefined, env, cwd, issues) ??
      fromJson(setting.json, doc);
    let raw = origin?.raw;
    if (origin && setting.isPath && typeof raw === "string") {
      const base =
        origin.source === "config.json" && configFile
          ? path.dirname(configFile)
          : cwd;
      raw = path.resolve(base, raw);
    }
    if (origin) origins.set(setting.key, origin);
    setPath(candidate, setting.key, raw);
  }
  return {
    candidate,
    origins,
    configFile,
    configFileFailed: configFile !== null && doc === null,
    cwd,
    issues,
  };
}

function fromFlag(
  name: FlagName | undefined,
  cli: string | undefined,
  flags: ConfigSources["flags"],
): Origin | null {
  if (!name || !cli || !flags) return null;
  const value = flags[name];
  if (isUnset(value)) return null;
  // `--roles api --roles drain,scheduler` and `--roles api,drain` mean the same.
  const raw = Array.isArray(value)
    ? value.flatMap((v) => v.split(",").map((s) => s.trim())).filter(Boolean)
    : value;
  return { source: "flag", name: cli, raw };
}

function fromEnv(
  names: readonly string[],
  isSecret: boolean,
  env: Record<string, string | undefined>,
  cwd: string,
  issues: ConfigIssue[],
): Origin | null {
  for (const name of names) {
    const value = env[name];
    if (!isUnset(value))
      return {
        source: "environment",
        name,
        raw: isSecret ? value : value?.trim(),
      };
    if (!isSecret) continue;
    const fileName = fileVariant(name);
    const file = env[fileName];
    if (isUnset(file) || file === undefined) continue;
    try {
      return {
        source: "environment",
        name: fileName,
        raw: readFileSync(path.resolve(cwd, file), "utf8").replace(
          /\r?\n$/,
          "",
        ),
      };
    } catch (err) {
      issues.push({
        source: "environment",
        path: fileName,
        value: displayValue(file),
        message: `could not read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      });
      return null;
    }
  }
  return null;
}

function fromJson(
  paths: readonly string[],
  doc: Record<string, unknown> | null,
): Origin | null {
  if (!doc) return null;
  for (const p of paths) {
    const raw = getPath(doc, p);
    if (!isUnset(raw)) return { source: "config.json", name: p, raw };
  }
  return null;
}

function readConfigFile(
  file: string,
): { doc: Record<string, unknown> } | { issue: ConfigIssue } {
  const fail = (message: string) => ({
    issue: { source: "config.json" as const, path: file, value: "", message },
  });
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "file not found"
        : code === "EISDIR"
          ? "is a directory, expected a file"
          : code === "EACCES"
            ? "permission denied"
            : String(err);
    return fail(`cannot read the config file: ${reason}`);
  }
  text = text.replace(/^\uFEFF/, "");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    const position = /at position (\d+)/.exec(detail)?.[1];
    const reason = detail
      .replace(/\s*in JSON at position \d+.*$/s, "")
      .replace(/\s*\(line \d+ column \d+\)/, "");
    if (position === undefined) return fail(`invalid JSON: ${reason}`);
    const before = text.slice(0, Number(position)).split("\n");
    return fail(
      `invalid JSON at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}: ${reason}`,
    );
  }
  if (!isPlainObject(doc))
    return fail("expected a JSON object at the top level");
  return { doc };
}

const knownJsonPaths: ReadonlySet<string> = new Set([
  ...settings.flatMap((s) => s.json),
  ...ignoredJsonFields.map((f) => f.path),
  ...ssoJsonFields,
]);

/** For every object path (prefix) in config.json, the field names allowed in it. */
const childrenByPrefix: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const map = new Map<string, Set<string>>();
  for (const p of knownJsonPaths) {
    const segs = p.split(".");
    for (let i = 0; i < segs.length; i++) {
      const prefix = segs.slice(0, i).join(".");
      const children = map.get(prefix) ?? new Set<string>();
      children.add(segs[i] as string);
      map.set(prefix, children);
    }
  }
  return map;
})();

/** Unknown keys (with a suggestion), non-object containers, and the seed rules of ignored fields. */
function checkJsonFields(doc: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const ignored = new Map(ignoredJsonFields.map((f) => [f.path, f]));
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(obj)) {
      const p = prefix ? `${prefix}.${key}` : key;
      if (childrenByPrefix.has(p)) {
        if (isPlainObject(value)) walk(value, p);
        else if (!isUnset(value) && !knownJsonPaths.has(p)) {
          issues.push({
            source: "config.json",
            path: p,
            value: displayValue(value),
            message: "expected an object",
          });
        }
      } else if (knownJsonPaths.has(p)) {
        const schema = ignored.get(p)?.schema;
        const result =
          schema && !isUnset(value) ? schema.safeParse(value) : null;
        if (result && !result.success) {
          const message = result.error.issues[0]?.message ?? "invalid value";
          issues.push({
            source: "config.json",
            path: p,
            value: displayValue(value),
            message,
          });
        }
      } else {
        const siblings = [...(childrenByPrefix.get(prefix) ?? [])];
        issues.push({
          source: "config.json",
          path: p,
          value: "",
          message: unknownFieldMessage(key, siblings),
        });
      }
    }
  };
  walk(doc, "");
  return issues;
}

function unknownFieldMessage(key: string, known: string[]): string {
  const ranked = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .sort((a, b) => a.d - b.d);
  const best = ranked[0];
  if (best && best.d <= Math.max(2, Math.floor(key.length / 4)))
    return `unknown field; did you mean "${best.k}"?`;
  if (known.length <= 12)
    return `unknown field; expected one of: ${known.join(", ")}`;
  return "unknown field (see docs/configuration.md for the accepted fields)";
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(
        Math.min(
          (prev[j] ?? 0) + 1,
          (cur[j - 1] ?? 0) + 1,
          (prev[j - 1] ?? 0) + cost,
        ),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
