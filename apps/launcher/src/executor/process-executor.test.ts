import { execFileSync } from "node:child_process";
import { readdirSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProcessExecutor } from "./process-executor.ts";
import {
  buildSpec,
  createTestRepo,
  hasBubblewrap,
  hasTofu,
  mainTf,
  recordRun,
  TEST_BIN_DIR,
  tempDir,
} from "../../test/executor-support.ts";

const TIMEOUT = 60_000;
const executor = createProcessExecutor({ hostPath: process.env.PATH });
const unsandboxed = createProcessExecutor({
  hostPath: process.env.PATH,
  sandbox: "off",
});
const cleanup: string[] = [];

function workDir(): string {
  const dir = tempDir("work");
  cleanup.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

/** A Terraform HTTP state backend with basic auth, LOCK and UNLOCK. */
function startStateServer(): Promise<{
  address: string;
  state: () => { resources?: unknown[] } | null;
  close: () => void;
}> {
  let state: string | null = null;
  const auth = `Basic ${Buffer.from("stackyard:backend-pass-123").toString("base64")}`;
  const server = http.createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (d: Buffer) => body.push(d));
    req.on("end", () => {
      if (req.headers.authorization !== auth) {
        res.statusCode = 401;
        return res.end();
      }
      if (req.method === "GET") {
        if (state === null) res.statusCode = 404;
        return res.end(state ?? "");
      }
      if (req.method === "POST") state = Buffer.concat(body).toString();
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        address: `http://127.0.0.1:${port}/state/stk_test`,
        state: () =>
          state === null
            ? null
            : (JSON.parse(state) as { resources?: unknown[] }),
        close: () => server.close(),
      });
    }),
  );
}

describe.skipIf(!hasTofu())("process executor with OpenTofu", () => {
  let repo: ReturnType<typeof createTestRepo>;
  let firstSha: string;
  let secondSha: string;

  beforeAll(() => {
    repo = createTestRepo();
    firstSha = repo.commit({ "main.tf": mainTf("first") }, "first");
    secondSha = repo.commit({ "main.tf": mainTf("second") }, "second");
    cleanup.push(repo.dir);
  });

  const spec = (o: Parameters<typeof buildSpec>[0] = {}) =>
    buildSpec({
      ...o,
      repository: {
        url: repo.dir,
        commitSha: null,
        branch: "main",
        ...o.repository,
      },
    });

  it(
    "plans a tracked run with changes and applies the archive elsewhere",
    async () => {
      const plan = await recordRun(executor, spec(), { workDir: workDir() });
      expect(plan.outcome.ok, plan.text).toBe(true);
      expect(plan.states).toEqual(["INITIALIZING", "PLANNING"]);
      expect(plan.outcome.plan).toMatchObject({
        hasChanges: true,
        add: 1,
        change: 0,
        destroy: 0,
        resources: [
          {
            address: "terraform_data.thing",
            actions: ["create"],
            before: null,
            after: { input: "second", output: "(known after apply)" },
          },
        ],
        outputs: [
          { name: "greeting", actions: ["create"] },
          { name: "thing", actions: ["create"] },
        ],
      });
      expect(plan.outcome.workspaceArchive?.length).toBeGreaterThan(0);
      expect(plan.logs).toContainEqual({
        state: "INITIALIZING",
        line: expect.stringContaining(
          "OpenTofu has been successfully initialized",
        ),
      });
      expect(plan.logs).toContainEqual({
        state: "PLANNING",
        line: "Plan: 1 to add, 0 to change, 0 to destroy.",
      });

      const applyDir = workDir();
      const apply = await recordRun(
        executor,
        spec({
          phase: "apply",
          repository: { url: repo.dir, commitSha: secondSha, branch: "main" },
        }),
        {
          workDir: applyDir,
          workspaceArchive: plan.outcome.workspaceArchive,
          keepWorkspace: true,
        },
      );
      expect(apply.outcome, apply.text).toEqual({ ok: true });
      expect(apply.states).toEqual(["APPLYING"]);
      expect(apply.text).toContain("Apply complete! Resources: 1 added");
      expect(apply.text).toContain('thing = "second"');

      const [runDir] = readdirSync(applyDir);
      const outputs = execFileSync(
        path.join(TEST_BIN_DIR, "tofu"),
        ["output", "-json"],
        {
          cwd: path.join(applyDir, runDir ?? "", "workspace", "source"),
          encoding: "utf8",
          env: { PATH: process.env.PATH, TF_CLI_CONFIG_FILE: "/dev/null" },
        },
      );
      expect(JSON.parse(outputs)).toMatchObject({
        greeting: { value: "hello second" },
      });
    },
    TIMEOUT,
  );

  it(
    "keeps state in the HTTP backend through plan, apply, re-plan and destroy",
    async () => {
      const backend = await startStateServer();
      try {
        const stateBackend = {
          address: backend.address,
          username: "stackyard",
          password: "backend-pass-123",
        };
        const plan = await recordRun(executor, spec({ stateBackend }), {
          workDir: workDir(),
        });
        expect(plan.outcome.ok, plan.text).toBe(true);
        const archive = plan.outcome.workspaceArchive;
        expect(archive?.includes("backend-pass-123")).toBe(false);

        const apply = await recordRun(
          executor,
          spec({ phase: "apply", stateBackend }),
          { workDir: workDir(), workspaceArchive: archive },
        );
        expect(apply.outcome.ok, apply.text).toBe(true);
        expect(backend.state()?.resources).toHaveLength(1);

        const replan = await recordRun(executor, spec({ stateBackend }), {
          workDir: workDir(),
        });
        expect(replan.outcome.ok, replan.text).toBe(true);
        expect(replan.outcome.plan?.hasChanges).toBe(false);
        expect(replan.outcome.workspaceArchive).toBeUndefined();

        const destroy = await recordRun(
          executor,
          spec({ runType: "DESTROY", phase: "destroy", stateBackend }),
          { workDir: workDir() },
        );
        expect(destroy.outcome, destroy.text).toEqual({ ok: true });
        expect(destroy.states).toEqual(["INITIALIZING", "DESTROYING"]);
        expect(destroy.text).toContain(
          "Destroy complete! Resources: 1 destroyed.",
        );
        expect(backend.state()?.resources).toEqual([]);
        expect(
          [plan, apply, replan, destroy].some((r) =>
            r.text.includes("backend-pass-123"),
          ),
        ).toBe(false);
      } finally {
        backend.close();
      }
    },
    TIMEOUT,
  );

  it(
    "reports no changes for a configuration without resources",
    async () => {
      const empty = createTestRepo();
      cleanup.push(empty.dir);
      empty.commit({ "main.tf": 'variable "unused" {\n  default = 1\n}\n' });
      const run = await recordRun(
        executor,
        spec({
          repository: { url: empty.dir, commitSha: null, branch: "main" },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome, run.text).toMatchObject({
        ok: true,
        plan: {
          hasChanges: false,
          add: 0,
          change: 0,
          destroy: 0,
          resources: [],
        },
      });
      expect(run.outcome.workspaceArchive).toBeUndefined();
    },
    TIMEOUT,
  );

  it(
    "plans a proposed run without a lock and without an archive",
    async () => {
      const run = await recordRun(executor, spec({ runType: "PROPOSED" }), {
        workDir: workDir(),
      });
      expect(run.outcome.ok, run.text).toBe(true);
      expect(run.outcome.plan?.hasChanges).toBe(true);
      expect(run.outcome.workspaceArchive).toBeUndefined();
      expect(run.text).toMatch(/running tofu plan .*-lock=false/);
    },
    TIMEOUT,
  );

  it(
    "performs a task without init",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          runType: "TASK",
          phase: "perform",
          command: "echo hi",
          skipInit: true,
        }),
        { workDir: workDir() },
      );
      expect(run.outcome, run.text).toEqual({ ok: true });
      expect(run.states).toEqual(["PERFORMING"]);
      expect(run.logs).toContainEqual({ state: "PERFORMING", line: "hi" });
      expect(run.text).not.toContain("running tofu init");
    },
    TIMEOUT,
  );

  it(
    "fails a task whose command fails, after init",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          runType: "TASK",
          phase: "perform",
          command: "tofu output -json && exit 4",
        }),
        { workDir: workDir() },
      );
      expect(run.states).toEqual(["INITIALIZING", "PERFORMING"]);
      expect(run.outcome).toEqual({
        ok: false,
        failureReason: "task command failed with exit code 4",
      });
    },
    TIMEOUT,
  );

  it(
    "skips the phase after a failing before hook and runs after_run with FAILED",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          hooks: {
            beforePlan: ["echo checking", "exit 3", "echo never"],
            afterRun: ["echo final=$TF_VAR_spacelift_final_run_state"],
          },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome).toEqual({
        ok: false,
        failureReason: "before_plan hook failed with exit code 3",
      });
      expect(run.text).toContain("checking");
      expect(run.text).not.toContain("never");
      expect(run.text).not.toContain("running tofu plan");
      expect(run.logs.at(-1)).toEqual({
        state: "PLANNING",
        line: "final=FAILED",
      });
    },
    TIMEOUT,
  );

  it(
    "runs hooks in order with computed variables and after_run last",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          runType: "PROPOSED",
          computed: { TF_VAR_spacelift_run_trigger: "manual" },
          hooks: {
            beforeInit: [
              "echo before_init $STACKYARD_RUN_ID $TF_VAR_spacelift_run_type",
            ],
            afterInit: ["echo after_init $TF_VAR_spacelift_commit_sha"],
            afterPlan: [
              "echo after_plan $TF_VAR_spacelift_run_trigger $TF_IN_AUTOMATION",
            ],
            afterRun: ["echo final=$TF_VAR_spacelift_final_run_state"],
          },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome.ok, run.text).toBe(true);
      const hookLines = run.logs.filter((l) =>
        /^(before_init|after_init|after_plan|final=)/.test(l.line),
      );
      expect(hookLines).toEqual([
        { state: "INITIALIZING", line: "before_init run_test PROPOSED" },
        { state: "INITIALIZING", line: `after_init ${secondSha}` },
        { state: "PLANNING", line: "after_plan manual 1" },
        { state: "PLANNING", line: "final=FINISHED" },
      ]);
    },
    TIMEOUT,
  );

  it(
    "masks secret variables and ::add-mask words",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          runType: "TASK",
          phase: "perform",
          skipInit: true,
          command: "echo task sees $MY_SECRET",
          environment: [
            { name: "MY_SECRET", value: "s3cr3t-value", secret: true },
            { name: "PLAIN", value: "visible-value", secret: false },
          ],
          hooks: {
            beforePerform: [
              "echo secret is $MY_SECRET and $PLAIN",
              "echo ::add-mask dyn-token-42",
              "echo later dyn-token-42",
            ],
          },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome.ok, run.text).toBe(true);
      expect(run.text).toContain("secret is ***** and visible-value");
      expect(run.text).toContain("::add-mask *****");
      expect(run.text).toContain("later *****");
      expect(run.text).toContain("task sees *****");
      expect(run.text).not.toContain("s3cr3t-value");
      expect(run.text).not.toContain("dyn-token-42");
    },
    TIMEOUT,
  );

  it(
    "stops a running hook quickly and still runs after_run",
    async () => {
      const abort = new AbortController();
      const started = Date.now();
      const run = await recordRun(
        executor,
        spec({
          hooks: {
            beforeInit: ["sleep 30"],
            afterRun: ["echo final=$TF_VAR_spacelift_final_run_state"],
          },
        }),
        { workDir: workDir(), signal: abort.signal, graceMs: 1000 },
        (line) => {
          if (line.includes("running before_init hooks"))
            setTimeout(() => abort.abort(), 200);
        },
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(run.outcome).toEqual({
        ok: false,
        stopped: true,
        failureReason: "run stopped",
      });
      expect(run.text).not.toContain("running tofu init");
      expect(run.logs.at(-1)?.line).toBe("final=STOPPED");
    },
    TIMEOUT,
  );

  it(
    "interrupts OpenTofu gracefully when stopped during apply",
    async () => {
      const slow = createTestRepo();
      cleanup.push(slow.dir);
      slow.commit({
        "main.tf": `resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
`,
      });
      const slowSpec = spec({
        repository: { url: slow.dir, commitSha: null, branch: "main" },
      });
      const plan = await recordRun(executor, slowSpec, { workDir: workDir() });
      expect(plan.outcome.ok, plan.text).toBe(true);

      const abort = new AbortController();
      const started = Date.now();
      const apply = await recordRun(
        executor,
        { ...slowSpec, phase: "apply" },
        {
          workDir: workDir(),
          workspaceArchive: plan.outcome.workspaceArchive,
          signal: abort.signal,
          graceMs: 5000,
        },
        (line) => {
          if (line.includes("Provisioning with 'local-exec'"))
            setTimeout(() => abort.abort(), 300);
        },
      );
      expect(apply.outcome).toMatchObject({ ok: false, stopped: true });
      expect(apply.text).toContain("Interrupt received.");
      expect(apply.text).toContain("Gracefully shutting down...");
      expect(Date.now() - started).toBeLessThan(10_000);
    },
    TIMEOUT,
  );

  it(
    "fails a run that prints nothing for the no-log timeout",
    async () => {
      const run = await recordRun(
        executor,
        spec({ hooks: { beforeInit: ["sleep 30"] } }),
        { workDir: workDir(), noLogTimeoutMs: 1000, graceMs: 500 },
      );
      expect(run.outcome).toEqual({
        ok: false,
        failureReason: "no log output for 1 s",
      });
    },
    TIMEOUT,
  );

  it(
    "lets a mounted file override a source file, secret ones with mode 0600",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          runType: "PROPOSED",
          mountedFiles: [
            {
              relativePath: "source/main.tf",
              contentBase64: Buffer.from(mainTf("from-mount")).toString(
                "base64",
              ),
              secret: false,
            },
            {
              relativePath: "creds/key.txt",
              contentBase64:
                Buffer.from("file-secret-line\n").toString("base64"),
              secret: true,
            },
          ],
          hooks: {
            afterPlan: [
              'stat -c "mode=%a" "$TF_VAR_spacelift_workspace_root/creds/key.txt"',
              'cat "$TF_VAR_spacelift_workspace_root/creds/key.txt"',
            ],
          },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome.ok, run.text).toBe(true);
      expect(run.outcome.plan?.resources[0]?.after).toMatchObject({
        input: "from-mount",
      });
      expect(run.text).toContain("mode=600");
      expect(run.text).not.toContain("file-secret-line");
    },
    TIMEOUT,
  );

  it(
    "runs in the project root with a local module",
    async () => {
      const mono = createTestRepo();
      cleanup.push(mono.dir);
      mono.commit({
        "README.md": "not terraform\n",
        "stacks/app/main.tf": `module "named" {
  source = "./modules/named"
  name   = "from-module"
}

output "root" {
  value = var.spacelift_project_root
}

variable "spacelift_project_root" {
  type = string
}
`,
        "stacks/app/modules/named/main.tf": `variable "name" {
  type = string
}

resource "terraform_data" "named" {
  input = var.name
}
`,
      });
      const run = await recordRun(
        executor,
        spec({
          projectRoot: "stacks/app",
          repository: {
            url: `file://${mono.dir}`,
            commitSha: null,
            branch: "main",
          },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome.ok, run.text).toBe(true);
      expect(run.outcome.plan?.resources).toMatchObject([
        {
          address: "module.named.terraform_data.named",
          after: { input: "from-module" },
        },
      ]);
      expect(run.text).toContain('root = "stacks/app"');
    },
    TIMEOUT,
  );

  it(
    "checks out the pinned commit",
    async () => {
      const run = await recordRun(
        executor,
        spec({
          runType: "PROPOSED",
          repository: { url: repo.dir, commitSha: firstSha, branch: "main" },
          hooks: { afterInit: ["echo sha=$STACKYARD_COMMIT_SHA"] },
        }),
        { workDir: workDir() },
      );
      expect(run.outcome.ok, run.text).toBe(true);
      expect(run.outcome.plan?.resources[0]?.after).toMatchObject({
        input: "first",
      });
      expect(run.text).toContain(`sha=${firstSha}`);
    },
    TIMEOUT,
  );

  it(
    "fails clearly on a missing repository, project root or binary",
    async () => {
      const badRepo = await recordRun(
        executor,
        spec({
          repository: {
            url: path.join(repo.dir, "nope"),
            commitSha: null,
            branch: "main",
          },
        }),
        { workDir: workDir() },
      );
      expect(badRepo.outcome).toEqual({
        ok: false,
        failureReason: "git clone failed with exit code 128",
      });

      const badRoot = await recordRun(
        executor,
        spec({ projectRoot: "missing" }),
        {
          workDir: workDir(),
        },
      );
      expect(badRoot.outcome.failureReason).toBe(
        'project root "missing" does not exist in the repository',
      );

      const emptyBin = workDir();
      const noTool = await recordRun(executor, spec(), {
        workDir: workDir(),
        binDir: emptyBin,
      });
      expect(noTool.outcome.failureReason).toBe(
        `OpenTofu binary not found: expected an executable at ${path.join(emptyBin, "tofu")}`,
      );
    },
    TIMEOUT,
  );

  it(
    "deletes the run directory afterwards",
    async () => {
      const dir = workDir();
      const run = await recordRun(executor, spec({ runType: "PROPOSED" }), {
        workDir: dir,
      });
      expect(run.outcome.ok, run.text).toBe(true);
      expect(readdirSync(dir)).toEqual([]);
    },
    TIMEOUT,
  );

  it.skipIf(!hasBubblewrap())(
    "sandboxes run processes with bubblewrap when available",
    async () => {
      const probe = "/usr/local/stackyard-sandbox-probe";
      const hooks = {
        beforeInit: [
          `touch ${probe} 2>/dev/null && echo escaped || echo blocked`,
        ],
      };
      try {
        const sandboxed = await recordRun(
          executor,
          spec({ runType: "PROPOSED", hooks }),
          { workDir: workDir() },
        );
        expect(sandboxed.outcome.ok, sandboxed.text).toBe(true);
        expect(sandboxed.text).toContain(
          "sandbox: run processes run inside bubblewrap",
        );
        expect(sandboxed.text).toContain("blocked");

        const plain = await recordRun(
          unsandboxed,
          spec({ runType: "PROPOSED", hooks: { beforeInit: ["echo plain"] } }),
          { workDir: workDir() },
        );
        expect(plain.outcome.ok, plain.text).toBe(true);
        expect(plain.text).not.toContain("sandbox:");
      } finally {
        rmSync(probe, { force: true });
      }
      expect(() => statSync(probe)).toThrow();
    },
    TIMEOUT,
  );
});
