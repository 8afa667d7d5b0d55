import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProcessExecutor } from "./process-executor.ts";
import {
  mergeRuntimeConfig,
  overlayRuntimeConfig,
  parseRuntimeConfig,
  RuntimeConfigError,
  validateRuntimeConfig,
} from "./runtime-config.ts";
import {
  buildSpec,
  createTestRepo,
  hasTofu,
  recordRun,
  tempDir,
} from "../../test/executor-support.ts";

const cleanup: string[] = [];
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function invalid(parsed: unknown): string {
  try {
    validateRuntimeConfig(parsed);
  } catch (err) {
    expect(err).toBeInstanceOf(RuntimeConfigError);
    return (err as Error).message;
  }
  throw new Error("expected the configuration to be refused");
}

describe("runtime configuration schema", () => {
  it("names the offending field of an invalid file", () => {
    expect(
      invalid({ version: 1, stacks: { stk_test: { before_plan: "echo" } } }),
    ).toMatch(
      /^\.spacelift\/config\.yml is invalid: stacks\.stk_test\.before_plan: /,
    );
    expect(
      invalid({ version: 1, stacks: { stk_test: { befor_plan: ["x"] } } }),
    ).toContain("stacks.stk_test.befor_plan: unknown setting");
    expect(
      invalid({ version: 1, stack_defaults: { before_init: ["ok", 3] } }),
    ).toContain("stack_defaults.before_init[1]:");
    expect(invalid({ stacks: {} })).toContain(
      'version: version must be 1 or 2 (e.g. version: "1")',
    );
    expect(
      invalid({ version: 1, stack_defaults: { environment: { "1BAD": "x" } } }),
    ).toContain("stack_defaults.environment.1BAD");
  });

  it("reports YAML syntax errors and an empty file", () => {
    expect(() => parseRuntimeConfig("version: [1\n")).toThrow(
      /^\.spacelift\/config\.yml is not valid YAML: /,
    );
    expect(() => parseRuntimeConfig("")).toThrow(/is empty/);
    expect(
      parseRuntimeConfig('version: "1"\nstacks:\n  s:\n    project_root: x\n'),
    ).toMatchObject({
      version: "1",
      stacks: { s: { project_root: "x" } },
    });
  });
});

describe("runtime configuration precedence", () => {
  const stack = buildSpec({
    stackId: "stk_test",
    projectRoot: "from-stack",
    tool: { kind: "tofu", version: null },
    hooks: { beforePlan: ["echo stack"] },
    environment: [
      { name: "SHARED", value: "stack", secret: false },
      { name: "TOKEN", value: "s3cret", secret: true },
    ],
  });
  const defaults = {
    project_root: "from-defaults",
    opentofu_version: "1.10.10",
    before_plan: ["echo defaults"],
    before_init: ["echo defaults init"],
    environment: { SHARED: "defaults", ONLY_DEFAULTS: 1 },
  };

  it("version 1: the stack entry, then the stack's own settings, then stack_defaults", () => {
    const { spec, notes } = mergeRuntimeConfig(
      stack,
      validateRuntimeConfig({
        version: 1,
        stack_defaults: defaults,
        stacks: { stk_test: { environment: { FROM_ENTRY: "yes" } } },
      }),
    );
    expect(spec.projectRoot).toBe("from-stack");
    expect(spec.tool.version).toBe("1.10.10");
    expect(spec.hooks.beforePlan).toEqual(["echo stack"]);
    expect(spec.hooks.beforeInit).toEqual(["echo defaults init"]);
    expect(spec.environment).toEqual([
      { name: "SHARED", value: "stack", secret: false },
      { name: "TOKEN", value: "s3cret", secret: true },
      { name: "ONLY_DEFAULTS", value: "1", secret: false },
      { name: "FROM_ENTRY", value: "yes", secret: false },
    ]);
    expect(notes[0]).toBe(
      "runtime configuration: using .spacelift/config.yml (version 1, stacks.stk_test and stack_defaults): tofu version 1.10.10, before_init (1), environment (FROM_ENTRY, ONLY_DEFAULTS)",
    );
  });

  it("version 2: the stack entry, then stack_defaults, then the stack's settings", () => {
    const { spec } = mergeRuntimeConfig(
      stack,
      validateRuntimeConfig({
        version: 2,
        stack_defaults: defaults,
        stacks: {
          stk_test: { project_root: "from-entry", runner_image: "x" },
          other: { project_root: "not-ours" },
        },
      }),
    );
    expect(spec.projectRoot).toBe("from-entry");
    expect(spec.hooks.beforePlan).toEqual(["echo defaults"]);
    expect(spec.environment).toContainEqual({
      name: "SHARED",
      value: "defaults",
      secret: false,
    });
  });

  it("says which settings it does not apply", () => {
    const { notes } = mergeRuntimeConfig(
      stack,
      validateRuntimeConfig({
        version: 1,
        stacks: { stk_test: { runner_image: "img", terragrunt: {} } },
      }),
    );
    expect(notes).toContain(
      "runtime configuration: runner_image is not supported by this launcher and is ignored",
    );
    expect(notes).toContain(
      "runtime configuration: terragrunt is not supported by this launcher and is ignored",
    );
  });
});

describe("the run's runtime configuration over the repository's file", () => {
  const file = validateRuntimeConfig({
    version: 1,
    stack_defaults: {
      before_init: ["echo file defaults"],
      environment: { A: "file-defaults", B: "file-defaults" },
    },
    stacks: {
      stk_test: {
        project_root: "file-root",
        before_plan: ["echo file plan"],
        environment: { C: "file-entry", D: "file-entry" },
      },
    },
  });

  it("replaces settings one by one per section, merges environments by name, and takes the run's version", () => {
    const run = parseRuntimeConfig(
      `version: 2
stack_defaults:
  environment:
    B: run-defaults
  project_root: run-defaults-root
stacks:
  stk_test:
    before_plan: ["echo run plan"]
    environment:
      D: run-entry
`,
      "the run's runtime configuration (--runtime-config)",
    );
    expect(overlayRuntimeConfig(file, run)).toEqual({
      version: 2,
      stack_defaults: {
        before_init: ["echo file defaults"],
        environment: { A: "file-defaults", B: "run-defaults" },
        project_root: "run-defaults-root",
      },
      stacks: {
        stk_test: {
          project_root: "file-root",
          before_plan: ["echo run plan"],
          environment: { C: "file-entry", D: "run-entry" },
        },
      },
    });
    const { spec, notes } = mergeRuntimeConfig(
      buildSpec({ projectRoot: "" }),
      overlayRuntimeConfig(file, run),
      "the merged configuration",
    );
    // The file's stacks.<id> still beats the run's stack_defaults.
    expect(spec.projectRoot).toBe("file-root");
    expect(spec.hooks.beforePlan).toEqual(["echo run plan"]);
    expect(
      Object.fromEntries(spec.environment.map((e) => [e.name, e.value])),
    ).toMatchObject({ A: "file-defaults", B: "run-defaults", D: "run-entry" });
    expect(notes[0]).toMatch(
      /^runtime configuration: using the merged configuration \(version 2, /,
    );
  });

  it("names the run's configuration and the field when it is invalid", () => {
    expect(() =>
      parseRuntimeConfig(
        "version: 1\nstacks:\n  stk_test:\n    environment:\n      1BAD: x\n",
        "the run's runtime configuration (--runtime-config)",
      ),
    ).toThrow(
      /^the run's runtime configuration \(--runtime-config\) is invalid: stacks\.stk_test\.environment\.1BAD: /,
    );
  });
});

describe.skipIf(!hasTofu())("the runtime configuration file in a run", () => {
  const executor = createProcessExecutor({
    hostPath: process.env.PATH,
    sandbox: "off",
  });
  let repo: ReturnType<typeof createTestRepo>;
  let goodSha: string;
  let badSha: string;
  beforeAll(() => {
    repo = createTestRepo();
    cleanup.push(repo.dir);
    goodSha = repo.commit({
      "infra/main.tf": `variable "name" {
  type = string
}
resource "terraform_data" "thing" {
  input = var.name
}
`,
      ".spacelift/config.yml": `version: "1"
stack_defaults:
  before_apply:
    - echo "before apply from the file"
stacks:
  stk_test:
    project_root: infra
    environment:
      TF_VAR_name: from-config
    before_plan:
      - echo "before plan from the file in $(basename "$PWD")"
`,
    });
    badSha = repo.commit({
      ".spacelift/config.yml": `version: 1
stacks:
  stk_test:
    before_plan: echo not a list
`,
    });
  });
  const spec = (o: Parameters<typeof buildSpec>[0], sha: string) =>
    buildSpec({
      repository: { url: repo.dir, commitSha: sha, branch: "main" },
      ...o,
    });

  it("applies the file to the plan and to the apply of its workspace, and says so in the log", async () => {
    const work = tempDir("work");
    cleanup.push(work);
    const plan = await recordRun(executor, spec({}, goodSha), {
      workDir: work,
    });
    expect(plan.outcome.ok, plan.text).toBe(true);
    expect(plan.text).toContain(
      '[stackyard] runtime configuration: using .spacelift/config.yml (version 1, stacks.stk_test and stack_defaults): project_root "infra", before_plan (1), before_apply (1), environment (TF_VAR_name)',
    );
    expect(plan.text).toContain("before plan from the file in infra");
    expect(plan.outcome.plan?.resources).toMatchObject([
      { address: "terraform_data.thing", after: { input: "from-config" } },
    ]);

    const apply = await recordRun(executor, spec({ phase: "apply" }, goodSha), {
      workDir: work,
      workspaceArchive: plan.outcome.workspaceArchive,
    });
    expect(apply.outcome, apply.text).toEqual({ ok: true });
    expect(apply.text).toContain("before apply from the file");
    expect(apply.text).toContain("Resources: 1 added");
  }, 60_000);

  it("merges the run's runtime configuration over the file in both phases, and says so", async () => {
    const runtimeConfigYaml = `version: "1"
stacks:
  stk_test:
    environment:
      TF_VAR_name: from-the-run
`;
    const work = tempDir("work");
    cleanup.push(work);
    const plan = await recordRun(
      executor,
      spec({ runtimeConfigYaml }, goodSha),
      { workDir: work },
    );
    expect(plan.outcome.ok, plan.text).toBe(true);
    expect(plan.text).toContain(
      '[stackyard] runtime configuration: using .spacelift/config.yml with the run\'s runtime configuration (--runtime-config) over it (version 1, stacks.stk_test and stack_defaults): project_root "infra", before_plan (1), before_apply (1), environment (TF_VAR_name)',
    );
    expect(plan.text).toContain("before plan from the file in infra");
    expect(plan.outcome.plan?.resources).toMatchObject([
      { address: "terraform_data.thing", after: { input: "from-the-run" } },
    ]);

    const apply = await recordRun(
      executor,
      spec({ phase: "apply", runtimeConfigYaml }, goodSha),
      { workDir: work, workspaceArchive: plan.outcome.workspaceArchive },
    );
    expect(apply.outcome, apply.text).toEqual({ ok: true });
    expect(apply.text).toContain("with the run's runtime configuration");
    expect(apply.text).toContain("Resources: 1 added");
  }, 60_000);

  it("applies the run's runtime configuration when the stack ignores the file", async () => {
    const work = tempDir("work");
    cleanup.push(work);
    const run = await recordRun(
      executor,
      spec(
        {
          projectRoot: "infra",
          computed: {
            TF_VAR_spacelift_stack_labels: "feature:ignore_runtime_config",
          },
          runtimeConfigYaml:
            "version: 1\nstack_defaults:\n  environment:\n    TF_VAR_name: run-only\n",
        },
        badSha,
      ),
      { workDir: work },
    );
    expect(run.outcome.ok, run.text).toBe(true);
    expect(run.text).toContain(
      "runtime configuration: using the run's runtime configuration (--runtime-config) (version 1, stack_defaults): environment (TF_VAR_name)",
    );
    expect(run.outcome.plan?.resources).toMatchObject([
      { after: { input: "run-only" } },
    ]);
  }, 60_000);

  it("fails the run on an invalid run configuration, naming the field", async () => {
    const work = tempDir("work");
    cleanup.push(work);
    const run = await recordRun(
      executor,
      spec(
        { runtimeConfigYaml: "version: 1\nstack_defaults:\n  hooks: []\n" },
        goodSha,
      ),
      { workDir: work },
    );
    expect(run.outcome.ok).toBe(false);
    expect(run.outcome.failureReason).toBe(
      "the run's runtime configuration (--runtime-config) is invalid: stack_defaults.hooks: unknown setting (see the runtime configuration reference for the supported keys)",
    );
    expect(run.text).not.toContain("running tofu init");
  });

  it("fails the run on an invalid file, naming the field", async () => {
    const work = tempDir("work");
    cleanup.push(work);
    const run = await recordRun(executor, spec({}, badSha), { workDir: work });
    expect(run.outcome.ok).toBe(false);
    expect(run.outcome.failureReason).toMatch(
      /^\.spacelift\/config\.yml is invalid: stacks\.stk_test\.before_plan: /,
    );
    expect(run.text).toContain(
      "[stackyard] failed: .spacelift/config.yml is invalid",
    );
    expect(run.text).not.toContain("running tofu init");
  });

  it("keeps a project_root from the file inside the repository", async () => {
    const escapeSha = repo.commit({
      ".spacelift/config.yml":
        'version: 1\nstack_defaults:\n  project_root: "../.."\n',
    });
    const work = tempDir("work");
    cleanup.push(work);
    const run = await recordRun(executor, spec({}, escapeSha), {
      workDir: work,
    });
    expect(run.outcome).toEqual({
      ok: false,
      failureReason: 'path "../.." leaves the workspace',
    });
  });

  it("ignores the file for a stack labelled feature:ignore_runtime_config, and says so", async () => {
    const work = tempDir("work");
    cleanup.push(work);
    const run = await recordRun(
      executor,
      spec(
        {
          projectRoot: "infra",
          environment: [{ name: "TF_VAR_name", value: "x", secret: false }],
          computed: {
            TF_VAR_spacelift_stack_labels: "a,feature:ignore_runtime_config",
          },
        },
        badSha,
      ),
      { workDir: work },
    );
    expect(run.outcome.ok, run.text).toBe(true);
    expect(run.text).toContain(
      "runtime configuration: .spacelift/config.yml ignored (the stack has the label feature:ignore_runtime_config)",
    );
  });
});
