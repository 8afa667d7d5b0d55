import { parse as parseYaml } from "yaml";
import { z } from "zod";

/**
 * The runtime configuration document (`.spacelift/config.yml` in a repository, or a
 * run's own `--runtime-config`): its schema, shared by the server (which refuses an
 * invalid `--runtime-config` at trigger time) and the launcher (which validates the
 * repository's file and applies both; see apps/launcher/src/executor/runtime-config.ts
 * for the precedence).
 */
export const RUNTIME_CONFIG_PATH = ".spacelift/config.yml";
/** How errors and the run log name the run's own runtime configuration. */
export const RUN_RUNTIME_CONFIG =
  "the run's runtime configuration (--runtime-config)";

export class RuntimeConfigError extends Error {}

/** The file's hook keys and the run spec's hook names they set. */
export const HOOK_KEYS = {
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
} as const;
export type RuntimeConfigHookKey = keyof typeof HOOK_KEYS;

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
  ) as Record<RuntimeConfigHookKey, z.ZodOptional<typeof hookList>>),
});
export type RuntimeConfigSettings = z.infer<typeof settingsSchema>;

/** Accepted but not applied by the launcher (its run log says so). */
export const NOT_APPLIED = [
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

/**
 * Validates the parsed YAML; throws RuntimeConfigError naming the first bad fields.
 * `source` names the document in the message.
 */
export function validateRuntimeConfig(
  parsed: unknown,
  source: string = RUNTIME_CONFIG_PATH,
): RuntimeConfig {
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
  throw new RuntimeConfigError(`${source} is invalid: ${problems}`);
}

/** Parses and validates the file's text (see validateRuntimeConfig). */
export function parseRuntimeConfig(
  text: string,
  source: string = RUNTIME_CONFIG_PATH,
): RuntimeConfig {
  let parsed: unknown;
  try {
    parsed = parseYaml(text) as unknown;
  } catch (err) {
    throw new RuntimeConfigError(
      `${source} is not valid YAML: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (parsed === null || parsed === undefined)
    throw new RuntimeConfigError(
      `${source} is empty; write at least "version: 1"${source === RUNTIME_CONFIG_PATH ? ", or remove the file" : ""}`,
    );
  return validateRuntimeConfig(parsed, source);
}
