import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SETUP, skipWithout } from "../apps/server/test/tools.ts";
import { PROVIDER_RESOURCES } from "./clients-compat.ts";
import { missingClients, tofuWorkspace } from "./clients-kit.ts";
import { graphql } from "./harness.ts";
import { git, gitRepo, startUp, type Stackyard } from "./run-kit.ts";

// The real Terraform provider (terraform-provider-spacelift through OpenTofu's
// dev_overrides, no init) against `stackyard up`: one configuration with every resource
// whose feature Stackyard has, in the forms users write, applied, re-planned with no
// changes, updated, re-planned, checked through the API and destroyed.

const skip = skipWithout(
  "the Spacelift clients",
  missingClients(true),
  SETUP.clients,
);

const POLICY_BODY = `package spacelift
warn contains "from the provider" if { true }
`;

function configuration(repo: string, v: "one" | "two"): string {
  const stack = (name: string, vendor: string, extra = "") => `
resource "spacelift_stack" "${name}" {
  name       = "provider-${name}-${v}"
  repository = "demo"
  branch     = "main"
  space_id   = spacelift_space.team.id
  labels     = ["provider", "${v}"]
  raw_git {
    namespace = "local"
    url       = "${repo}"
  }
  ${vendor}
  ${extra}
}`;
  return `
resource "spacelift_space" "team" {
  name             = "provider-team"
  parent_space_id  = "root"
  inherit_entities = true
  description      = "made by the provider (${v})"
}
${stack("opentofu", "opentofu {}")}
${stack("tofu_tool", `terraform_workflow_tool = "OPEN_TOFU"\n  terraform_version = "1.10.10"`)}
${stack("default_vendor", "", `description = "default Terraform vendor"`)}

resource "spacelift_context" "shared" {
  name     = "provider-context"
  space_id = spacelift_space.team.id
  labels   = ["${v}"]
}
resource "spacelift_context_attachment" "shared" {
  context_id = spacelift_context.shared.id
  stack_id   = spacelift_stack.opentofu.id
  priority   = ${v === "one" ? 1 : 2}
}
resource "spacelift_environment_variable" "plain" {
  context_id = spacelift_context.shared.id
  name       = "GREETING"
  value      = "hello ${v}"
  write_only = false
}
resource "spacelift_environment_variable" "secret" {
  stack_id = spacelift_stack.opentofu.id
  name     = "TF_VAR_secret"
  value    = "s3cret-${v}"
}
resource "spacelift_mounted_file" "notes" {
  stack_id      = spacelift_stack.opentofu.id
  relative_path = "notes.txt"
  content       = base64encode("notes ${v}")
  write_only    = false
}
resource "spacelift_policy" "warn" {
  name     = "provider-policy-${v}"
  type     = "PLAN"
  body     = ${JSON.stringify(POLICY_BODY)}
  space_id = spacelift_space.team.id
}
resource "spacelift_policy_attachment" "warn" {
  policy_id = spacelift_policy.warn.id
  stack_id  = spacelift_stack.opentofu.id
}
resource "spacelift_worker_pool" "extra" {
  name        = "provider-pool-${v}"
  description = "made by the provider"
  space_id    = spacelift_space.team.id
}

data "spacelift_account" "this" {}
data "spacelift_policies" "all" {
  depends_on = [spacelift_policy.warn]
}
data "spacelift_worker_pools" "all" {
  depends_on = [spacelift_worker_pool.extra]
}

output "account" { value = data.spacelift_account.this.name }
output "policies" { value = [for p in data.spacelift_policies.all.policies : p.name] }
output "pools" { value = [for p in data.spacelift_worker_pools.all.worker_pools : p.name] }
output "pool_config" {
  value     = spacelift_worker_pool.extra.config
  sensitive = true
}
output "stacks" {
  value = [spacelift_stack.opentofu.id, spacelift_stack.tofu_tool.id, spacelift_stack.default_vendor.id]
}
`;
}

describe.skipIf(skip)("terraform-provider-spacelift against Stackyard", () => {
  let sy: Stackyard;
  let key: { id: string; secret: string };
  let repo: string;

  const jwt = async () => {
    const r = await graphql<{ apiKeyUser: { jwt: string } }>(
      sy.base,
      "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt}}",
      { id: key.id, secret: key.secret },
    );
    return r.data?.apiKeyUser.jwt ?? "";
  };

  beforeAll(async () => {
    sy = await startUp();
    key = JSON.parse(
      await readFile(path.join(sy.dataDir, "admin-api-key.json"), "utf8"),
    ) as { id: string; secret: string };
    repo = await gitRepo();
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("creates, re-plans clean, updates and destroys every built resource", async () => {
    const ws = await tofuWorkspace({
      endpoint: sy.base,
      keyId: key.id,
      keySecret: key.secret,
    });
    await ws.write(configuration(repo, "one"));
    const created = await ws.apply();
    expect(created.code, created.out).toBe(0);
    expect(created.out).not.toMatch(/internal error/i);
    const clean = await ws.plan();
    expect(clean.code, `second plan must have no changes:\n${clean.out}`).toBe(
      0,
    );

    const out = await ws.output();
    expect(out.account?.value).toBe("stackyard");
    expect(out.policies?.value).toContain("provider-policy-one");
    expect(out.pools?.value).toContain("provider-pool-one");
    expect(String(out.pool_config?.value ?? "")).not.toBe("");
    const [tofuStack] = out.stacks?.value as string[];

    const token = await jwt();
    const seen = await graphql<{
      stack: {
        name: string;
        labels: string[];
        attachedContexts: Array<{ contextName: string }>;
        attachedPolicies: Array<{ policyName: string }>;
        config: Array<{ id: string }>;
      } | null;
    }>(
      sy.base,
      "query($id:ID!){stack(id: $id){name,labels,attachedContexts{contextName},attachedPolicies{policyName},config{id}}}",
      { id: tofuStack },
      token,
    );
    expect(seen.data?.stack, JSON.stringify(seen)).toMatchObject({
      name: "provider-opentofu-one",
      labels: expect.arrayContaining(["provider", "one"]),
      attachedContexts: [{ contextName: "provider-context" }],
      attachedPolicies: [{ policyName: "provider-policy-one" }],
    });
    expect(seen.data?.stack?.config.map((c) => c.id).sort()).toEqual([
      "TF_VAR_secret",
      "notes.txt",
    ]);

    await ws.write(configuration(repo, "two"));
    const updated = await ws.apply();
    expect(updated.code, updated.out).toBe(0);
    const cleanAgain = await ws.plan();
    expect(cleanAgain.code, cleanAgain.out).toBe(0);
    const renamed = await graphql<{ stack: { name: string } | null }>(
      sy.base,
      "query($id:ID!){stack(id: $id){name}}",
      { id: tofuStack },
      token,
    );
    expect(renamed.data?.stack?.name).toBe("provider-opentofu-two");

    const destroyed = await ws.destroy();
    expect(destroyed.code, destroyed.out).toBe(0);
    const gone = await graphql<{ stack: unknown }>(
      sy.base,
      "query($id:ID!){stack(id: $id){id}}",
      { id: tofuStack },
      token,
    );
    expect(gone.data?.stack).toBeNull();
  }, 600_000);

  it("triggers a run with spacelift_run, waits for it, and the run and stack know the commit", async () => {
    const ws = await tofuWorkspace({
      endpoint: sy.base,
      keyId: key.id,
      keySecret: key.secret,
    });
    await ws.write(`
resource "spacelift_stack" "runs" {
  name       = "provider-runs"
  repository = "demo"
  branch     = "main"
  raw_git {
    namespace = "local"
    url       = "${repo}"
  }
  opentofu {}
}
resource "spacelift_run" "preview" {
  stack_id = spacelift_stack.runs.id
  proposed = true
  wait {
    continue_on_state = ["finished"]
  }
}
output "run" { value = spacelift_run.preview.id }
`);
    const applied = await ws.apply();
    expect(applied.code, applied.out).toBe(0);
    const runId = String((await ws.output()).run?.value);
    const head = git(repo, "rev-parse", "HEAD").trim();
    const seen = await graphql<{
      stack: {
        trackedCommit: { hash: string } | null;
        run: { state: string; commit: { hash: string } } | null;
      } | null;
    }>(
      sy.base,
      "query($id:ID!$run:ID!){stack(id: $id){trackedCommit{hash},run(id: $run){state,commit{hash}}}}",
      { id: "provider-runs", run: runId },
      await jwt(),
    );
    expect(seen.data?.stack, JSON.stringify(seen)).toEqual({
      trackedCommit: { hash: head },
      run: { state: "FINISHED", commit: { hash: head } },
    });
    expect((await ws.destroy()).code).toBe(0);
  }, 300_000);

  it("fails cleanly, naming the feature, for each resource whose feature is not built", async () => {
    const configs: Record<string, string> = {
      spacelift_drift_detection: `resource "spacelift_drift_detection" "x" {\n  stack_id = spacelift_stack.base.id\n  schedule = ["*/15 * * * *"]\n}`,
      spacelift_scheduled_task: `resource "spacelift_scheduled_task" "x" {\n  stack_id = spacelift_stack.base.id\n  command  = "tofu version"\n  every    = ["0 * * * *"]\n}`,
      spacelift_scheduled_run: `resource "spacelift_scheduled_run" "x" {\n  stack_id = spacelift_stack.base.id\n  name     = "nightly"\n  every    = ["0 * * * *"]\n}`,
      spacelift_scheduled_delete_stack: `resource "spacelift_scheduled_delete_stack" "x" {\n  stack_id = spacelift_stack.base.id\n  at       = 4102444800\n}`,
      spacelift_stack_dependency: `resource "spacelift_stack_dependency" "x" {\n  stack_id            = spacelift_stack.base.id\n  depends_on_stack_id = spacelift_stack.base.id\n}`,
      spacelift_webhook: `resource "spacelift_webhook" "x" {\n  stack_id = spacelift_stack.base.id\n  endpoint = "https://example.com/hook"\n}`,
      spacelift_named_webhook: `resource "spacelift_named_webhook" "x" {\n  name     = "hook"\n  endpoint = "https://example.com/hook"\n  space_id = "root"\n  enabled  = true\n}`,
      spacelift_api_key: `resource "spacelift_api_key" "x" {\n  name = "from-provider"\n}`,
      spacelift_role: `resource "spacelift_role" "x" {\n  name    = "reader"\n  actions = ["SPACE_READ"]\n}`,
      spacelift_module: `resource "spacelift_module" "x" {\n  name       = "mod"\n  repository = "demo"\n  branch     = "main"\n  terraform_provider = "aws"\n  raw_git {\n    namespace = "local"\n    url       = "${repo}"\n  }\n}`,
    };
    const base = `resource "spacelift_stack" "base" {\n  name       = "provider-unbuilt-base"\n  repository = "demo"\n  branch     = "main"\n  raw_git {\n    namespace = "local"\n    url       = "${repo}"\n  }\n  opentofu {}\n}\n`;
    const ws = await tofuWorkspace({
      endpoint: sy.base,
      keyId: key.id,
      keySecret: key.secret,
    });
    await ws.write(base);
    const made = await ws.apply();
    expect(made.code, made.out).toBe(0);
    for (const [resource, c] of Object.entries(PROVIDER_RESOURCES)) {
      if (c.status !== "not yet" || c.checked !== "unbuilt") continue;
      const config = configs[resource];
      expect(config, `a configuration for ${resource}`).toBeDefined();
      await ws.write(`${base}\n${config}`);
      const r = await ws.apply();
      expect(r.code, `${resource}: ${r.out}`).toBe(1);
      expect(r.out, resource).toContain("not supported by Stackyard yet");
      expect(r.out.replace(/\s+/g, " "), resource).toContain(c.feature);
      expect(r.out, resource).not.toMatch(/internal error/i);
    }
    await ws.write(base);
    expect((await ws.destroy()).code).toBe(0);
  }, 600_000);
});
