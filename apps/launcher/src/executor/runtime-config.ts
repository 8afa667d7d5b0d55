import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import {
  HOOK_KEYS,
  NOT_APPLIED,
  RUN_RUNTIME_CONFIG,
  RUNTIME_CONFIG_PATH,
  RuntimeConfigError,
  parseRuntimeConfig,
  type RuntimeConfig,
  type RuntimeConfigHookKey as HookKey,
  type RuntimeConfigSettings as Settings,
} from "@stackyard/protocol";
import type { HookName, RunSpec } from "./run-spec.ts";

export {
  RUN_RUNTIME_CONFIG,
  RUNTIME_CONFIG_PATH,
  RuntimeConfigError,
  parseRuntimeConfig,
  validateRuntimeConfig,
  runtimeConfigSchema,
  type RuntimeConfig,
} from "@stackyard/protocol";

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
 *
 * The run's own runtime configuration (`spacectl stack deploy --runtime-config`,
 * `RunSpec.runtimeConfigYaml`) is a document of the same format and schema, merged over
 * the repository's file before the precedence above is applied (overlayRuntimeConfig):
 * - each setting the run's document sets in `stack_defaults` or `stacks.<id>` replaces
 *   the file's setting in that same section (a hook list replaces the list; it is not
 *   appended);
 * - `environment` maps are merged by variable name, the run's value winning;
 * - the run's `version` decides the precedence (version 1 or 2 above) for the run.
 * So the run's `stacks.<id>` beats the file's `stacks.<id>`, and the run's
 * `stack_defaults` beats the file's `stack_defaults`; a file's `stacks.<id>` setting
 * still beats a run's `stack_defaults` setting. The stack label
 * `feature:ignore_runtime_config` turns off only the repository's file: the run's
 * document was given explicitly for this run. An invalid run document fails the run
 * with the field named, like the file.
 */
/** Larger files are refused (a runtime configuration is a few KiB). */
const MAX_BYTES = 1024 * 1024;
const IGNORE_LABEL = "feature:ignore_runtime_config";

// The protocol's hook keys name the launcher's hooks.
HOOK_KEYS satisfies Record<string, HookName>;

export interface AppliedRuntimeConfig {
  spec: RunSpec;
  /** Run log lines: what was applied, what was ignored. */
  notes: string[];
}

/**
 * Reads `<sourceDir>/.spacelift/config.yml`, overlays the run's own configuration
 * (`spec.runtimeConfigYaml`) and merges the result into `spec`. Neither: the spec
 * unchanged and no notes. Throws RuntimeConfigError for an unreadable or invalid file
 * or run document (the run's document is checked even when the file is broken, so the
 * message names the first problem found in reading order: the run's document first).
 */
export async function applyRuntimeConfigFile(
  sourceDir: string,
  spec: RunSpec,
): Promise<AppliedRuntimeConfig> {
  const runConfig =
    spec.runtimeConfigYaml === undefined
      ? null
      : parseRuntimeConfig(spec.runtimeConfigYaml, RUN_RUNTIME_CONFIG);
  const fromFile = await readRuntimeConfigFile(sourceDir, spec);
  if (!runConfig) {
    if (!fromFile.config) return { spec, notes: fromFile.notes };
    return mergeRuntimeConfig(spec, fromFile.config);
  }
  const merged = mergeRuntimeConfig(
    spec,
    fromFile.config
      ? overlayRuntimeConfig(fromFile.config, runConfig)
      : runConfig,
    fromFile.config
      ? `${RUNTIME_CONFIG_PATH} with ${RUN_RUNTIME_CONFIG} over it`
      : RUN_RUNTIME_CONFIG,
  );
  return { spec: merged.spec, notes: [...fromFile.notes, ...merged.notes] };
}

/** The repository's file, validated; null when absent or turned off by the label. */
async function readRuntimeConfigFile(
  sourceDir: string,
  spec: RunSpec,
): Promise<{ config: RuntimeConfig | null; notes: string[] }> {
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
      return { config: null, notes: [] };
    throw new RuntimeConfigError(
      `${RUNTIME_CONFIG_PATH} cannot be read: ${(err as Error).message}`,
    );
  }
  const labels = (spec.computed.TF_VAR_spacelift_stack_labels ?? "").split(",");
  if (labels.includes(IGNORE_LABEL))
    return {
      config: null,
      notes: [
        `runtime configuration: ${RUNTIME_CONFIG_PATH} ignored (the stack has the label ${IGNORE_LABEL})`,
      ],
    };
  if (size > MAX_BYTES)
    throw new RuntimeConfigError(
      `${RUNTIME_CONFIG_PATH} is larger than ${MAX_BYTES / 1024} KiB`,
    );
  return {
    config: parseRuntimeConfig(await readFile(file, "utf8")),
    notes: [],
  };
}

/** `over`'s settings replace `base`'s one by one; environments merge by name. */
function overlaySettings(
  base: Settings | undefined,
  over: Settings | undefined,
): Settings | undefined {
  if (!base || !over) return over ?? base;
  const merged: Settings = { ...base };
  for (const [key, value] of Object.entries(over))
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  if (base.environment && over.environment)
    merged.environment = { ...base.environment, ...over.environment };
  return merged;
}

/**
 * The run's document `over` merged over the repository's file `base`, section by
 * section and setting by setting (the rule in the header comment). Pure.
 */
export function overlayRuntimeConfig(
  base: RuntimeConfig,
  over: RuntimeConfig,
): RuntimeConfig {
  const stackIds = new Set([
    ...Object.keys(base.stacks ?? {}),
    ...Object.keys(over.stacks ?? {}),
  ]);
  const stacks: Record<string, Settings> = {};
  for (const id of stackIds) {
    const merged = overlaySettings(base.stacks?.[id], over.stacks?.[id]);
    if (merged) stacks[id] = merged;
  }
  const stackDefaults = overlaySettings(
    base.stack_defaults,
    over.stack_defaults,
  );
  return {
    ...base,
    ...over,
    version: over.version,
    ...(stackDefaults ? { stack_defaults: stackDefaults } : {}),
    ...(stackIds.size ? { stacks } : {}),
  };
}

/**
 * The spec with `config` merged in by the precedence above. Pure. `source` names the
 * configuration in the run log.
 */
export function mergeRuntimeConfig(
  spec: RunSpec,
  config: RuntimeConfig,
  source: string = RUNTIME_CONFIG_PATH,
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
    `runtime configuration: using ${source} (version ${version}${where.length ? `, ${where.join(" and ")}` : ", no entry for this stack"})${applied.length ? `: ${applied.join(", ")}` : "; nothing to apply"}`,
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
