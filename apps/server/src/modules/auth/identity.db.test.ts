import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildStack } from "../../../test/factories.ts";
import { insertSpace } from "../../../test/stacks-fixtures.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { createApp, type App } from "../../app.ts";
import { registerGraphQL } from "../../api/graphql.ts";
import { loadConfig } from "../../platform/config/index.ts";
import { apiResolvers } from "../../roles/api.ts";
import { ACTIONS, hashSecret } from "./index.ts";

// API keys, roles and bindings through GraphQL against the real app and Postgres: what a
// key holding a role may do, and that secrets exist only in the create response.

let t: TestDatabase;
let app: App;
let http: FastifyInstance;
let dataDir: string;
let adminToken: string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are probed ad hoc, as JSON
type Json = any;
interface Gql {
  data?: Record<string, Json> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

async function gql(
  query: string,
  variables: Record<string, unknown> = {},
  token: string | null = adminToken,
): Promise<Gql> {
  const res = await http.inject({
    method: "POST",
    url: "/graphql",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    payload: { query, variables },
  });
  return res.json() as Gql;
}

const code = (r: Gql) => r.errors?.[0]?.extensions?.code;

const KEY_FIELDS =
  "id admin name secret type teams stackyardCredentialsFile createdAt lastUsedAt accessRules{space spaceAccessLevel} isMachineUser apiKeyRoleBindings{id role{id slug isSystem name description actions roleBindingsCount} spaceID apiKeyID} oidcSettings{issuer}";

async function createKey(name: string, teams: string[] = []) {
  const r = await gql(
    `mutation($input: ApiKeyInput!){apiKeyCreate(input: $input){${KEY_FIELDS}}}`,
    { input: { admin: false, name, teams } },
  );
  expect(r.errors).toBeUndefined();
  return r.data?.apiKeyCreate as Json;
}

async function bind(apiKeyID: string, roleID: string, spaceID: string) {
  const r = await gql(
    "mutation($input: ApiKeyRoleBindingInput!){apiKeyRoleBindingCreate(input: $input){id role{id slug} spaceID apiKeyID}}",
    { input: { apiKeyID, roleID, spaceID } },
  );
  expect(r.errors).toBeUndefined();
  return r.data?.apiKeyRoleBindingCreate as Json;
}

async function login(id: string, secret: string): Promise<string> {
  const r = await gql(
    "mutation($id: ID!, $secret: String!){apiKeyUser(id: $id, secret: $secret){jwt}}",
    { id, secret },
    null,
  );
  const jwt = r.data?.apiKeyUser?.jwt as string | undefined;
  if (!jwt) throw new Error(`login failed: ${JSON.stringify(r)}`);
  return jwt;
}

beforeAll(async () => {
  t = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-identity-"));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const config = loadConfig({
    env: {
      STACKYARD_LOG_LEVEL: "error",
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      STACKYARD_PUBLIC_URL: "https://stackyard.example.com",
      ENCRYPTION_RSA_PRIVATE_KEY: Buffer.from(
        privateKey.export({ type: "pkcs1", format: "pem" }),
      ).toString("base64"),
    },
    cwd: dataDir,
  });
  app = await createApp(config, { databaseUrl: t.url, log: silentLog });
  http = Fastify();
  await registerGraphQL(http, {
    auth: app.auth,
    log: silentLog,
    resolvers: apiResolvers(app),
  });
  await http.ready();
  const admin = await app.auth.createApiKey({ name: "admin", admin: true });
  adminToken = (await app.auth.exchangeApiKey(admin.id, admin.secret)).token;
  await insertSpace(app.db, "team-a", "root");
  await insertSpace(app.db, "team-a-dev", "team-a");
  await insertSpace(app.db, "team-b", "root");
}, 120_000);

afterAll(async () => {
  await http?.close();
  await app?.close();
  await t?.destroy();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("API keys", () => {
  it("shows the secret once, with a credentials file, and stores only its hash", async () => {
    const key = await createKey("ci", ["platform", "platform"]);
    expect(key).toMatchObject({
      name: "ci",
      admin: false,
      type: "SECRET",
      teams: ["platform"],
      isMachineUser: true,
      oidcSettings: null,
      apiKeyRoleBindings: [],
      accessRules: [],
      lastUsedAt: null,
    });
    expect(key.id).toMatch(/^[0-9A-Z]{26}$/);
    expect(key.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(key.stackyardCredentialsFile).toContain(
      `credentials "stackyard.example.com" {\n  token = "${key.id}/${key.secret}"\n}`,
    );

    const row = await app.db
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", key.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_hash).toBe(hashSecret(key.secret));
    expect(JSON.stringify(row)).not.toContain(key.secret);

    const read = await gql(`query($id: ID!){apiKey(id: $id){${KEY_FIELDS}}}`, {
      id: key.id,
    });
    expect(read.data?.apiKey).toMatchObject({ id: key.id, secret: null });
    expect(read.data?.apiKey.stackyardCredentialsFile).toBeNull();
    const list = await gql("{apiKeys{id secret}}");
    expect(list.data?.apiKeys).toContainEqual({ id: key.id, secret: null });

    await login(key.id, key.secret);
    const used = await gql("query($id: ID!){apiKey(id: $id){lastUsedAt}}", {
      id: key.id,
    });
    expect(used.data?.apiKey.lastUsedAt).toBeGreaterThan(0);
  });

  it("updates the name and IdP groups, and a deleted key's sessions end", async () => {
    const key = await createKey("to-delete");
    const token = await login(key.id, key.secret);
    const upd = await gql(
      'mutation($id: ID!){apiKeyUpdate(id: $id, input: {name: "renamed", teams: ["ops"]}){name teams}}',
      { id: key.id },
    );
    expect(upd.data?.apiKeyUpdate).toEqual({ name: "renamed", teams: ["ops"] });
    const del = await gql("mutation($id: ID!){apiKeyDelete(id: $id){id}}", {
      id: key.id,
    });
    expect(del.data?.apiKeyDelete).toEqual({ id: key.id });
    expect(code(await gql("{stacks{id}}", {}, token))).toBe("UNAUTHENTICATED");
    const gone = await gql("query($id: ID!){apiKey(id: $id){id}}", {
      id: key.id,
    });
    expect(gone.data?.apiKey).toBeNull();
    const again = await gql("mutation($id: ID!){apiKeyDelete(id: $id){id}}", {
      id: key.id,
    });
    expect(again.errors?.[0]?.message).toBe("could not find api key");
  });

  it("refuses bad input naming the field", async () => {
    const empty = await gql(
      'mutation{apiKeyCreate(input: {admin: false, name: "  "}){id}}',
    );
    expect(code(empty)).toBe("BAD_USER_INPUT");
    expect(empty.errors?.[0]?.message).toContain("input.name");
    const oidc = await gql(
      'mutation{apiKeyCreate(input: {admin: false, name: "o", oidc: {issuer: "https://i", clientId: "c", subjectExpression: ".*"}}){id}}',
    );
    expect(code(oidc)).toBe("NOT_IMPLEMENTED");
    expect(oidc.errors?.[0]?.message).toContain("input.oidc");
    const team = await gql(
      'mutation{apiKeyCreate(input: {admin: false, name: "t", teams: [""]}){id}}',
    );
    expect(team.errors?.[0]?.message).toContain("input.teams[0]");
  });
});

describe("roles", () => {
  it("lists the built-in roles and the Action enum the provider introspects", async () => {
    const roles = await gql("{roles{id slug isSystem actions}}");
    expect(roles.data?.roles.map((r: Json) => r.slug)).toEqual(
      expect.arrayContaining([
        "space-reader",
        "space-writer",
        "space-admin",
        "worker-pool-controller",
      ]),
    );
    const intro = await gql(
      "query($includeDeprecated: Boolean!){__schema{types{name kind enumValues(includeDeprecated: $includeDeprecated){name}}}}",
      { includeDeprecated: true },
    );
    const action = intro.data?.__schema.types.find(
      (x: Json) => x.name === "Action",
    );
    expect(action.kind).toBe("ENUM");
    expect(action.enumValues.map((v: Json) => v.name)).toEqual([...ACTIONS]);
    expect(ACTIONS).toEqual(
      expect.arrayContaining(["SPACE_READ", "RUN_TRIGGER", "STACK_MANAGE"]),
    );
  });

  it("creates, updates (either spelling of actions) and deletes a custom role", async () => {
    const created = await gql(
      'mutation{roleCreate(input: {name: "Run Operator", description: "d", actions: [SPACE_READ, RUN_CONFIRM]}){id slug name description isSystem actions roleBindingsCount}}',
    );
    const role = created.data?.roleCreate;
    expect(role).toMatchObject({
      slug: "run-operator",
      isSystem: false,
      actions: ["SPACE_READ", "RUN_CONFIRM"],
      roleBindingsCount: 0,
    });
    const viaVariables = await gql(
      "mutation($id: ID!, $input: RoleUpdateInput!){roleUpdate(id: $id, input: $input){actions}}",
      { id: role.id, input: { name: null, Actions: ["SPACE_WRITE"] } },
    );
    expect(viaVariables.data?.roleUpdate.actions).toEqual(["SPACE_WRITE"]);
    const dup = await gql(
      'mutation{roleCreate(input: {name: "run operator", actions: [SPACE_READ]}){id}}',
    );
    expect(code(dup)).toBe("CONFLICT");
    const bad = await gql(
      "mutation($i: RoleInput!){roleCreate(input: $i){id}}",
      { i: { name: "x", actions: ["NOT_AN_ACTION"] } },
    );
    expect(bad.errors?.[0]?.message).toContain("NOT_AN_ACTION");

    const key = await createKey("bound");
    const binding = await bind(key.id, role.id, "team-a");
    const inUse = await gql("mutation($id: ID!){roleDelete(id: $id){id}}", {
      id: role.id,
    });
    expect(code(inUse)).toBe("CONFLICT");
    await gql("mutation($id: ID!){apiKeyRoleBindingDelete(id: $id){id}}", {
      id: binding.id,
    });
    const del = await gql("mutation($id: ID!){roleDelete(id: $id){id}}", {
      id: role.id,
    });
    expect(del.data?.roleDelete).toEqual({ id: role.id });
    const builtIn = await gql('mutation{roleDelete(id: "space-admin"){id}}');
    expect(code(builtIn)).toBe("FORBIDDEN");
  });

  it("binds a role to a stack and reads the binding back", async () => {
    const stack = await buildStack(app.db, { space_id: "team-a" });
    const r = await gql(
      "mutation($input: StackRoleBindingInput!){stackRoleBindingCreate(input: $input){id stackID role{slug} space{id name}}}",
      {
        input: { stackID: stack.id, roleID: "space-admin", spaceID: "team-b" },
      },
    );
    expect(r.data?.stackRoleBindingCreate).toMatchObject({
      stackID: stack.id,
      role: { slug: "space-admin" },
      space: { id: "team-b" },
    });
    const read = await gql("query($id: ID!){stackRoleBinding(id: $id){id}}", {
      id: r.data?.stackRoleBindingCreate.id,
    });
    expect(read.data?.stackRoleBinding).not.toBeNull();
    const missing = await gql(
      'mutation{stackRoleBindingCreate(input: {stackID: "nope", roleID: "space-admin", spaceID: "team-b"}){id}}',
    );
    expect(code(missing)).toBe("NOT_FOUND");
    expect(missing.errors?.[0]?.message).toContain("input.stackID");
  });
});

describe("a key holding Space Reader in one space", () => {
  it("reads there and below, not elsewhere, cannot write, and cannot administer identity", async () => {
    const key = await createKey("reader");
    await bind(key.id, "space-reader", "team-a");
    const token = await login(key.id, key.secret);
    const mine = await buildStack(app.db, { space_id: "team-a-dev" });
    const other = await buildStack(app.db, { space_id: "team-b" });

    const stacks = await gql("{stacks{id}}", {}, token);
    const ids = stacks.data?.stacks.map((s: Json) => s.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(other.id);
    const hidden = await gql(
      "query($id: ID!){stack(id: $id){id}}",
      { id: other.id },
      token,
    );
    expect(hidden.data?.stack).toBeNull();

    const write = await gql(
      "mutation($id: ID!){stackLock(id: $id){id}}",
      { id: mine.id },
      token,
    );
    expect(code(write)).toBe("FORBIDDEN");
    for (const op of [
      'mutation{apiKeyCreate(input: {admin: false, name: "x"}){id}}',
      'mutation{roleCreate(input: {name: "x", actions: [SPACE_ADMIN]}){id}}',
      `mutation{apiKeyRoleBindingCreate(input: {apiKeyID: "${key.id}", roleID: "space-admin", spaceID: "root"}){id}}`,
      "{roles{id}}",
      "{apiKeys{id}}",
    ])
      expect(code(await gql(op, {}, token)), op).toBe("FORBIDDEN");
    // It reads itself, and its rules.
    const self = await gql(
      "query($id: ID!){apiKey(id: $id){accessRules{space spaceAccessLevel}}}",
      { id: key.id },
      token,
    );
    expect(self.data?.apiKey.accessRules).toEqual([
      { space: "team-a", spaceAccessLevel: "READ" },
    ]);
  });

  it("gains writing with Space Writer, and everything with Space Admin on root", async () => {
    const key = await createKey("grows");
    await bind(key.id, "space-reader", "team-a");
    await bind(key.id, "space-writer", "team-a-dev");
    const token = await login(key.id, key.secret);
    const dev = await buildStack(app.db, { space_id: "team-a-dev" });
    const top = await buildStack(app.db, { space_id: "team-a" });
    expect(
      (
        await gql(
          "mutation($id: ID!){stackLock(id: $id){id}}",
          { id: dev.id },
          token,
        )
      ).errors,
    ).toBeUndefined();
    expect(
      code(
        await gql(
          "mutation($id: ID!){stackLock(id: $id){id}}",
          { id: top.id },
          token,
        ),
      ),
    ).toBe("FORBIDDEN");

    await bind(key.id, "space-admin", "root");
    const admin = await login(key.id, key.secret);
    expect((await gql("{apiKeys{id}}", {}, admin)).errors).toBeUndefined();
  });

  it("keeps a key made before roles on its single space and level", async () => {
    const legacy = await app.auth.createApiKey({
      name: "legacy",
      admin: false,
      spaceId: "team-b",
    });
    const token = await login(legacy.id, legacy.secret);
    const other = await buildStack(app.db, { space_id: "team-b" });
    const ids = (await gql("{stacks{id}}", {}, token)).data?.stacks.map(
      (s: Json) => s.id,
    );
    expect(ids).toContain(other.id);
    const rules = await gql(
      "query($id: ID!){apiKey(id: $id){accessRules{space spaceAccessLevel}}}",
      { id: legacy.id },
    );
    expect(rules.data?.apiKey.accessRules).toEqual([
      { space: "team-b", spaceAccessLevel: "READ" },
    ]);
  });
});
