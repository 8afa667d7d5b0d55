import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { missingClients, spacectlAs, tofuWorkspace } from "./clients-kit.ts";
import { graphql } from "./harness.ts";
import { gitRepo, startUp, type Stackyard } from "./run-kit.ts";

// Identity through the real clients against `stackyard up`: the Terraform provider
// manages an API key, a custom role and role attachments (API key and stack forms),
// re-plans clean, and the key it made does with the real spacectl exactly what its role
// allows: it lists its space's stacks only and is refused a write.

const skip = missingClients(true);
if (skip) console.warn(`provider identity suite ${skip}`);

function configuration(repo: string, v: "one" | "two"): string {
  const stack = (name: string, space: string) => `
resource "spacelift_stack" "${name}" {
  name       = "identity-${name}"
  repository = "demo"
  branch     = "main"
  space_id   = spacelift_space.${space}.id
  raw_git {
    namespace = "local"
    url       = "${repo}"
  }
  opentofu {}
}`;
  return `
resource "spacelift_space" "a" {
  name            = "identity-a"
  parent_space_id = "root"
}
resource "spacelift_space" "b" {
  name            = "identity-b"
  parent_space_id = "root"
}
${stack("in_a", "a")}
${stack("in_b", "b")}

data "spacelift_role_actions" "all" {}
data "spacelift_role" "reader" {
  slug = "space-reader"
}

resource "spacelift_role" "operator" {
  name        = "Identity operator"
  description = "reads and confirms (${v})"
  actions     = ${v === "one" ? '["SPACE_READ", "RUN_CONFIRM"]' : '["SPACE_READ", "RUN_CONFIRM", "RUN_TRIGGER"]'}
}

resource "spacelift_api_key" "ci" {
  name       = "identity-ci-${v}"
  idp_groups = ["platform"]
}

resource "spacelift_role_attachment" "ci_reader" {
  api_key_id = spacelift_api_key.ci.id
  role_id    = data.spacelift_role.reader.id
  space_id   = spacelift_space.a.id
}
resource "spacelift_role_attachment" "ci_operator" {
  api_key_id = spacelift_api_key.ci.id
  role_id    = spacelift_role.operator.id
  space_id   = spacelift_space.a.id
}
resource "spacelift_role_attachment" "stack_admin" {
  stack_id = spacelift_stack.in_a.id
  role_id  = "space-admin"
  space_id = spacelift_space.b.id
}

output "key_id" { value = spacelift_api_key.ci.id }
output "key_secret" {
  value     = spacelift_api_key.ci.secret
  sensitive = true
}
output "actions" { value = data.spacelift_role_actions.all.actions }
output "stacks" { value = [spacelift_stack.in_a.id, spacelift_stack.in_b.id] }
`;
}

describe.skipIf(skip !== null)("identity with the real clients", () => {
  let sy: Stackyard;
  let admin: { id: string; secret: string };
  let repo: string;

  beforeAll(async () => {
    sy = await startUp();
    admin = JSON.parse(
      await readFile(path.join(sy.dataDir, "admin-api-key.json"), "utf8"),
    ) as { id: string; secret: string };
    repo = await gitRepo();
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("manages keys, roles and attachments, and the key does what its roles allow", async () => {
    const ws = await tofuWorkspace({
      endpoint: sy.base,
      keyId: admin.id,
      keySecret: admin.secret,
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
    const keyId = String(out.key_id?.value);
    const keySecret = String(out.key_secret?.value);
    expect(keySecret).toMatch(/^[0-9a-f]{64}$/);
    expect(out.actions?.value).toEqual(
      expect.arrayContaining(["SPACE_READ", "RUN_CONFIRM", "STACK_MANAGE"]),
    );
    const [inA, inB] = out.stacks?.value as [string, string];

    // The key the provider made, through spacectl: its space only, and no writes.
    const spacectl = spacectlAs({
      endpoint: sy.base,
      keyId,
      keySecret,
      home: await mkdtemp(path.join(os.tmpdir(), "spacectl-identity-")),
    });
    const list = await spacectl(["stack", "list"]);
    expect(list.code, list.out).toBe(0);
    expect(list.out).toContain(inA);
    expect(list.out).not.toContain(inB);
    const lock = await spacectl(["stack", "lock", "--id", inA]);
    expect(lock.code, lock.out).not.toBe(0);
    expect(lock.out).toMatch(/forbidden/i);
    expect(lock.out).not.toMatch(/internal error/i);

    // What the server holds: the stack's binding and the key's rules.
    const jwt = (
      await graphql<{ apiKeyUser: { jwt: string } }>(
        sy.base,
        "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt}}",
        { id: admin.id, secret: admin.secret },
      )
    ).data?.apiKeyUser.jwt;
    const key = await graphql<{
      apiKey: {
        teams: string[];
        secret: string | null;
        accessRules: Array<{ space: string; spaceAccessLevel: string }>;
      };
    }>(
      sy.base,
      "query($id:ID!){apiKey(id: $id){teams,secret,accessRules{space,spaceAccessLevel}}}",
      { id: keyId },
      jwt,
    );
    expect(key.data?.apiKey).toMatchObject({
      teams: ["platform"],
      secret: null,
    });
    expect(key.data?.apiKey.accessRules).toHaveLength(2);

    // Updates in place, then clean again.
    await ws.write(configuration(repo, "two"));
    const updated = await ws.apply();
    expect(updated.code, updated.out).toBe(0);
    const cleanAgain = await ws.plan();
    expect(cleanAgain.code, cleanAgain.out).toBe(0);

    const destroyed = await ws.destroy();
    expect(destroyed.code, destroyed.out).toBe(0);
    const gone = await spacectl(["stack", "list"]);
    expect(gone.code).not.toBe(0);
  }, 600_000);
});
