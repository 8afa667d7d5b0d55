import { generateKeyPairSync } from "node:crypto";
import { loopbackEgress } from "../../../test/egress.ts";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerGraphQL } from "../../api/graphql.ts";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { silentLog } from "../../../test/run-kit.ts";
import {
  apiKeySession,
  insertSpace,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
  type Session,
} from "../auth/index.ts";
import { createStacksModule, stackResolvers } from "../stacks/index.ts";
import { createVcsModule, vcsResolvers, type VcsModule } from "./index.ts";

// Stacks and their VCS integration, wired as app.ts wires them: the stacks module checks
// `vcsIntegrationId` through the VCS module's port, and `Stack.vcsIntegration` is
// resolved by the VCS module.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are probed ad hoc, as JSON
type Json = any;
interface GqlResponse {
  data?: Record<string, Json> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

const ADMIN: Session = {
  kind: "user",
  id: "admin",
  name: "admin",
  admin: true,
};
const STACK_FIELDS = "id provider repositoryURL vcsIntegration{id isDefault}";
const CREATE_STACK = `mutation($input: StackInput!){stackCreate(input: $input, manageState: false){${STACK_FIELDS}}}`;
const UPDATE_STACK = `mutation($id: ID!, $input: StackInput!){stackUpdate(id: $id, input: $input){${STACK_FIELDS}}}`;
const GET_STACK = `query($id: ID!){stack(id: $id){${STACK_FIELDS}}}`;

describe("stacks and their VCS integration", () => {
  let t: TestDatabase;
  let vcs: VcsModule;
  let app: FastifyInstance;
  let adminToken: string;

  async function gql(
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<GqlResponse> {
    const res = await app.inject({
      method: "POST",
      url: "/graphql",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${adminToken}`,
      },
      payload: { query, variables },
    });
    return res.json() as GqlResponse;
  }

  const stackInput = (name: string, over: Record<string, unknown> = {}) => ({
    name,
    provider: "GITHUB",
    namespace: "acme",
    repository: "infra",
    branch: "main",
    autodeploy: false,
    autoretry: false,
    administrative: false,
    vendorConfig: { terraform: { workflowTool: "OPEN_TOFU", version: null } },
    ...over,
  });

  const githubIntegration = async (name: string, isDefault: boolean) => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    return vcs.integrations.create(ADMIN, {
      name,
      provider: "GITHUB",
      isDefault,
      appId: "4242",
      privateKey: privateKey
        .export({ type: "pkcs1", format: "pem" })
        .toString(),
      webhookSecret: "w",
    });
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    const stacks = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
      vcsIntegrations: { spaceOf: (id) => vcs.stackIntegrations.spaceOf(id) },
    });
    vcs = createVcsModule({
      egress: loopbackEgress,
      db: t.db,
      encryptor: testEncryptor(),
      access: stacks.access,
      runs: {
        createRun: () => Promise.reject(new Error("no runs here")),
        stopRun: () => Promise.reject(new Error("no runs here")),
        cancelRun: () => Promise.reject(new Error("no runs here")),
      },
      adapters: {},
      log: silentLog,
      clock: () => new Date(),
      dataDir: "/nonexistent",
      publicUrl: "http://stackyard.test",
      webhooksEndpoint: "http://stackyard.test",
    });
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const auth = createAuthService({
      db: t.db,
      signer: createTokenSigner({
        privateKey,
        issuer: "http://stackyard.test",
        audience: "http://stackyard.test",
      }),
      admin: { username: "admin", password: "pw" },
    });
    adminToken = (await auth.adminLogin("admin", "pw")).token;
    app = Fastify();
    await registerGraphQL(app, {
      auth,
      log: silentLog,
      resolvers: [
        authResolvers(auth),
        stackResolvers(stacks.stacks),
        vcsResolvers({ integrations: vcs.integrations, events: vcs.events }),
      ],
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await t?.destroy();
  });

  it("refuses a vcsIntegrationId that does not exist, naming the field, on create and update", async () => {
    const created = await gql(CREATE_STACK, {
      input: stackInput("no-such", { vcsIntegrationId: "vcs_github_nope" }),
    });
    expect(created.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(created.errors?.[0]?.message).toBe(
      "stackCreate input.vcsIntegrationId: VCS integration vcs_github_nope does not exist; pass the id of an existing integration (stackyardVcsIntegrations lists them), or null to use the provider's default integration",
    );

    const ok = await gql(CREATE_STACK, { input: stackInput("fine") });
    expect(ok.errors).toBeUndefined();
    const updated = await gql(UPDATE_STACK, {
      id: ok.data?.stackCreate.id,
      input: stackInput("fine", { vcsIntegrationId: "vcs_github_gone" }),
    });
    expect(updated.errors?.[0]?.message).toMatch(
      /^stackUpdate input\.vcsIntegrationId: VCS integration vcs_github_gone does not exist/,
    );
  });

  it("shows the integration a stack uses and whether it is its provider's default", async () => {
    const named = await githubIntegration("gh-named", false);
    const created = await gql(CREATE_STACK, {
      input: stackInput("named", { vcsIntegrationId: named.id }),
    });
    expect(created.errors).toBeUndefined();
    expect(created.data?.stackCreate).toMatchObject({
      repositoryURL: null,
      vcsIntegration: { id: named.id, isDefault: false },
    });
    const id = created.data?.stackCreate.id;

    // Without a default, a stack naming no integration has none.
    const bare = await gql(CREATE_STACK, { input: stackInput("bare") });
    expect(bare.data?.stackCreate.vcsIntegration).toBeNull();

    await vcs.integrations.update(ADMIN, named.id, { isDefault: true });
    expect((await gql(GET_STACK, { id })).data?.stack.vcsIntegration).toEqual({
      id: named.id,
      isDefault: true,
    });
    // The default is the one a GitHub stack naming none uses; a raw git stack uses none.
    expect(
      (await gql(GET_STACK, { id: bare.data?.stackCreate.id })).data?.stack
        .vcsIntegration,
    ).toEqual({ id: named.id, isDefault: true });
    const raw = await gql(CREATE_STACK, {
      input: stackInput("raw", {
        provider: "GIT",
        repository: "https://git.example.com/infra.git",
      }),
    });
    expect(raw.errors).toBeUndefined();
    expect(raw.data?.stackCreate.vcsIntegration).toBeNull();
  });

  it("lets a stack use only integrations of its space or an inherited ancestor", async () => {
    await insertSpace(t.db, "vs-team", "root", { inherit: true });
    await insertSpace(t.db, "vs-other");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const otherAdmin = await apiKeySession(t.db, {
      spaceId: "vs-other",
      level: "ADMIN",
    });
    const foreign = await vcs.integrations.create(otherAdmin, {
      name: "gh-other-space",
      provider: "GITHUB",
      appId: "1",
      privateKey: pem,
      webhookSecret: "w",
    });
    const inRoot = await githubIntegration("gh-root-space", false);

    const refused = await gql(CREATE_STACK, {
      input: stackInput("uses-foreign", {
        space: "vs-team",
        vcsIntegrationId: foreign.id,
      }),
    });
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(refused.errors?.[0]?.message).toMatch(
      /^stackCreate input\.vcsIntegrationId: VCS integration .* lives in space vs-other/,
    );
    const inherited = await gql(CREATE_STACK, {
      input: stackInput("uses-root", {
        space: "vs-team",
        vcsIntegrationId: inRoot.id,
      }),
    });
    expect(inherited.errors).toBeUndefined();
    // vs-other does not inherit: root's integration is out of its reach.
    const closed = await gql(CREATE_STACK, {
      input: stackInput("closed-uses-root", {
        space: "vs-other",
        vcsIntegrationId: inRoot.id,
      }),
    });
    expect(closed.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("keeps the global default integration in the root space", async () => {
    const otherAdmin = await apiKeySession(t.db, {
      spaceId: "vs-other",
      level: "ADMIN",
    });
    const claim = {
      name: "gh-claims-default",
      provider: "GITLAB" as const,
      isDefault: true,
      apiUrl: "https://gitlab.example.com",
      token: "glpat-x",
      webhookSecret: "w",
    };
    await expect(vcs.integrations.create(otherAdmin, claim)).rejects.toThrow(
      /^stackyardVcsIntegrationCreate input\.isDefault: a default integration serves every space/,
    );
    const mine = await vcs.integrations.create(otherAdmin, {
      ...claim,
      isDefault: false,
    });
    await expect(
      vcs.integrations.update(otherAdmin, mine.id, { isDefault: true }),
    ).rejects.toThrow(/^stackyardVcsIntegrationUpdate input\.isDefault/);
    // Moving the root default out of root is refused too.
    const def = await vcs.integrations.create(ADMIN, {
      ...claim,
      name: "gl-root-default",
      space: "root",
    });
    await expect(
      vcs.integrations.update(ADMIN, def.id, { space: "vs-other" }),
    ).rejects.toThrow(/isDefault: .*must live in the root space/);
  });
});
