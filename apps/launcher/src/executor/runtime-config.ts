import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { HookName, RunSpec } from "./run-spec.ts";

/**
 * The repository's runtime configuration, `.spacelift/config.yml` at the repository
 * root (spacelift-reference §1.1 "Runtime config"), read by the executor once the
 * workspace is in place (after checkout and mounted files, or after restoring the
 * planned workspace for apply, so both phases of a run see the same file), and merged
 * into the run's spec before the tool, the project root and the environment are chosen.
 *
 * Format (`version: 1` or `2`): `stack_defaults` and `stacks.<stack-id>`, each a set of
 * settings: `project_root`, `terraform_version`, `opentofu_version`, `environment`
 * (a map), and the 11 hook lists (`before_init` … `after_run`). `runner_image`,
 * `terraform_workflow_tool`, `git_sparse_checkout_paths`, `terragrunt` and the module
 * keys are accepted but not applied by this launcher (the run log says so).
 *
 * Precedence, highest first:
 * - version 1: `stacks.<id>`, then the stack's own settings, then `stack_defaults`
 *   (a default fills only what the stack leaves unset: an empty project root, no tool
 *   version, an empty hook list, an environment variable the stack does not define);
 * - version 2: `stacks.<id>`, then `stack_defaults`, then the stack's settings.
 * A hook list from the file replaces the stack's list for that hook. Variables from
 * the file are plain (not secret) values.
 *
 * A file that cannot be parsed or does not match the schema fails the run with the
 * offending field named: a configuration the user wrote is never silently ignored.
 * The stack label `feature:ignore_runtime_config` turns the file off.
 */
export const RUNTIME_CONFIG_PATH = ".spacelift/config.yml";
/** Larger files are refused (a runtime configuration is a few KiB). */
const MAX_BYTES = 1024 * 1024;
const IGNORE_LABEL = "feature:ignore_runtime_config";

export class RuntimeConfigError extends Error {}

const HOOK_KEYS = {
  before_init: "beforeInit",
  after_init: "afterInit",
  before_plan: "beforePlan",
  after_plan: "afterPlan",
  before_apply: "beforeApply",
  after_apply: "afterApply",
  before_perform: "beforePerform",
  after_perform: "afterPerform",
  before_destroy: "beforeDestroy",
  after_destroy: "afterDestroy",
  after_run: "afterRun",
} as const satisfies Record<string, HookName>;
type HookKey = keyof typeof HOOK_KEYS;

const hookList = z.array(z.string());
const envName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "environment variable names use letters, digits and _ and do not start with a digit",
  );
const envValue = z
  .union([z.string(), z.number(), z.boolean()])
  .transform(String);

const settingsSchema = z.strictObject({
  project_root: z.string().optional(),
  terraform_version: z.string().min(1).optional(),
  opentofu_version: z.string().min(1).optional(),
  environment: z.record(envName, envValue).optional(),
  runner_image: z.string().optional(),
  terraform_workflow_tool: z
    .enum(["TERRAFORM_FOSS", "OPEN_TOFU", "CUSTOM"])
    .optional(),
  git_sparse_checkout_paths: z.array(z.string()).optional(),
  terragrunt: z.record(z.string(), z.unknown()).optional(),
  ...(Object.fromEntries(
    Object.keys(HOOK_KEYS).map((k) => [k, hookList.optional()]),
  ) as Record<HookKey, z.ZodOptional<typeof hookList>>),
});
type Settings = z.infer<typeof settingsSchema>;

/** Accepted but not applied by this launcher. */
const NOT_APPLIED = [
  "runner_image",
  "terraform_workflow_tool",
  "git_sparse_checkout_paths",
  "terragrunt",
] as const;

export const runtimeConfigSchema = z.strictObject({
  version: z.union(
    [z.literal(1), z.literal(2), z.literal("1"), z.literal("2")],
    { error: 'version must be 1 or 2 (e.g. version: "1")' },
  ),
  stack_defaults: settingsSchema.optional(),
  stacks: z.record(z.string(), settingsSchema).optional(),
  // Module runs are not supported; their keys are allowed so a shared file validates.
  module_version: z.string().optional(),
  test_defaults: z.unknown().optional(),
  tests: z.array(z.unknown()).optional(),
});
export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

/** `stacks.my-stack.before_plan[0]` for a zod issue path. */
function fieldOf(issuePath: readonly PropertyKey[]): string {
  let out = "";
  for (const part of issuePath) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out || "(top level)";
}

/** Validates the parsed YAML; throws RuntimeConfigError naming the first bad fields. */
export function validateRuntimeConfig(parsed: unknown): RuntimeConfig {
  const result = runtimeConfigSchema.safeParse(parsed);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 5)
    .map((issue) => {
      if (issue.code === "unrecognized_keys")
        return issue.keys
          .map(
            (k) =>
              `${fieldOf([...issue.path, k])}: unknown setting (see the runtime configuration reference for the supported keys)`,
          )
          .join("; ");
      return `${fieldOf(issue.path)}: ${issue.message}`;
    })
    .join("; ");
  throw new RuntimeConfigError(
    `${RUNTIME_CONFIG_PATH} is invalid: ${problems}`,
  );
}

/** Parses and validates the file's text (see validateRuntimeConfig). */
export function parseRuntimeConfig(text: string): RuntimeConfig {
  let parsed: unknown;
  try {
    parsed = parseYaml(text) as unknown;
  } catch (err) {
    throw new RuntimeConfigError(
      `${RUNTIME_CONFIG_PATH} is not valid YAML: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (parsed === null || parsed === undefined)
    throw new RuntimeConfigError(
      `${RUNTIME_CONFIG_PATH} is empty; write at least "version: 1", or remove the file`,
    );
  return validateRuntimeConfig(parsed);
}

export interface AppliedRuntimeConfig {
  spec: RunSpec;
  /** Run log lines: what was applied, what was ignored. */
  notes: string[];
}

/**
 * Reads `<sourceDir>/.spacelift/config.yml` and merges it into `spec`. No file: the
 * spec unchanged and no notes. Throws RuntimeConfigError for an unreadable or invalid
 * file.
 */
export async function applyRuntimeConfigFile(
  sourceDir: string,
  spec: RunSpec,
): Promise<AppliedRuntimeConfig> {
  const file = path.join(sourceDir, RUNTIME_CONFIG_PATH);
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile())
      throw new RuntimeConfigError(`${RUNTIME_CONFIG_PATH} is not a file`);
    size = info.size;
  } catch (err) {
    if (err instanceof RuntimeConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return { spec, notes: [] };
    throw new RuntimeConfigError(
      `${RUNTIME_CONFIG_PATH} cannot be read: ${(err as Error).message}`,
    );
  }
  const labels = (spec.computed.TF_VAR_spacelift_stack_labels ?? "").split(",");
  if (labels.includes(IGNORE_LABEL))
    return {
      spec,
      notes: [
        `runtime configuration: ${RUNTIME_CONFIG_PATH} ignored (the stack has the label ${IGNORE_LABEL})`,
      ],
    };
  if (size > MAX_BYTES)
    throw new RuntimeConfigError(
      `${RUNTIME_CONFIG_PATH} is larger than ${MAX_BYTES / 1024} KiB`,
    );
  const config = parseRuntimeConfig(await readFile(file, "utf8"));
  return mergeRuntimeConfig(spec, config);
}

/** The spec with `config` merged in by the precedence above. Pure. */
export function mergeRuntimeConfig(
  spec: RunSpec,
  config: RuntimeConfig,
): AppliedRuntimeConfig {
  const version = Number(config.version);
  const entry: Settings | undefined = config.stacks?.[spec.stackId];
  const defaults: Settings = config.stack_defaults ?? {};
  const applied: string[] = [];
  const notes: string[] = [];

  /** v1: entry, stack (when set), defaults; v2: entry, defaults, stack. */
  function pick<T>(
    fromEntry: T | undefined,
    fromDefaults: T | undefined,
    stackValue: T,
    stackSet: boolean,
  ): { value: T; fromFile: boolean } {
    if (fromEntry !== undefined) return { value: fromEntry, fromFile: true };
    if (version === 1 && stackSet)
      return { value: stackValue, fromFile: false };
    if (fromDefaults !== undefined)
      return { value: fromDefaults, fromFile: true };
    return { value: stackValue, fromFile: false };
  }

  const root = pick(
    entry?.project_root,
    defaults.project_root,
    spec.projectRoot,
    spec.projectRoot !== "",
  );
  if (root.fromFile) applied.push(`project_root "${root.value}"`);

  const versionKey =
    spec.tool.kind === "tofu" ? "opentofu_version" : "terraform_version";
  const versionOf = (s: Settings | undefined) =>
    s?.[versionKey] ??
    (spec.tool.kind === "tofu" ? s?.terraform_version : undefined);
  const toolVersion = pick<string | null>(
    versionOf(entry),
    versionOf(defaults),
    spec.tool.version,
    spec.tool.version !== null,
  );
  if (toolVersion.fromFile)
    applied.push(`${spec.tool.kind} version ${toolVersion.value}`);

  const hooks: RunSpec["hooks"] = { ...spec.hooks };
  for (const [key, name] of Object.entries(HOOK_KEYS) as [
    HookKey,
    HookName,
  ][]) {
    const stackList = spec.hooks[name] ?? [];
    const chosen = pick(
      entry?.[key],
      defaults[key],
      stackList,
      stackList.length > 0,
    );
    if (chosen.fromFile) {
      hooks[name] = chosen.value;
      applied.push(`${key} (${chosen.value.length})`);
    }
  }

  const stackNames = new Set(spec.environment.map((e) => e.name));
  const fileEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults.environment ?? {}))
    if (version === 2 || !stackNames.has(name)) fileEnv[name] = value;
  Object.assign(fileEnv, entry?.environment ?? {});
  const fileNames = Object.keys(fileEnv);
  const environment = [
    ...spec.environment.filter((e) => !(e.name in fileEnv)),
    ...fileNames.map((name) => ({
      name,
      value: fileEnv[name] ?? "",
      secret: false,
    })),
  ];
  if (fileNames.length)
    applied.push(`environment (${fileNames.sort().join(", ")})`);

  for (const source of [entry, config.stack_defaults]) {
    for (const key of NOT_APPLIED)
      if (source?.[key] !== undefined)
        notes.push(
          `runtime configuration: ${key} is not supported by this launcher and is ignored`,
        );
  }
  const where = [
    entry ? `stacks.${spec.stackId}` : null,
    config.stack_defaults ? "stack_defaults" : null,
  ].filter(Boolean);
  notes.unshift(
    `runtime configuration: using ${RUNTIME_CONFIG_PATH} (version ${version}${where.length ? `, ${where.join(" and ")}` : ", no entry for this stack"})${applied.length ? `: ${applied.join(", ")}` : "; nothing to apply"}`,
  );
  return {
    spec: {
      ...spec,
      projectRoot: root.value,
      tool: { ...spec.tool, version: toolVersion.value },
      hooks,
      environment,
    },
    notes: [...new Set(notes)],
  };
}
