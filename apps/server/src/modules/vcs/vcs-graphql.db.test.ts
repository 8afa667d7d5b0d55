import { generateKeyPairSync } from "node:crypto";
import { createEgressGuard } from "../../platform/http/egress.ts";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vcsRunsPort } from "../../app.ts";
import { registerGraphQL } from "../../api/graphql.ts";
import { createRunKit, silentLog, type RunKit } from "../../../test/run-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { insertSpace, testEncryptor } from "../../../test/stacks-fixtures.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
  type AuthService,
} from "../auth/index.ts";
import { createVcsModule, vcsResolvers, type VcsModule } from "./index.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are probed ad hoc, as JSON
type Json = any;
interface GqlResponse {
  data?: Record<string, Json> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

const FIELDS =
  "id name provider space isDefault labels description checks apiUrl gitUrl appId hasWebhookSecret hasCredentials webhookUrl createdAt updatedAt";
const CREATE = `mutation($input: StackyardVcsIntegrationCreateInput!){stackyardVcsIntegrationCreate(input: $input){${FIELDS}}}`;
const UPDATE = `mutation($id: ID!, $input: StackyardVcsIntegrationUpdateInput!){stackyardVcsIntegrationUpdate(id: $id, input: $input){${FIELDS}}}`;
const DELETE = `mutation($id: ID!){stackyardVcsIntegrationDelete(id: $id){id}}`;
const LIST = `{stackyardVcsIntegrations{id name space}}`;
const EVENTS = `query($stack: ID!){stackyardVcsEvents(stack: $stack){id outcome reason}}`;

describe("VCS GraphQL API", () => {
  let kit: RunKit;
  let vcs: VcsModule;
  let app: FastifyInstance;
  let auth: AuthService;
  let adminToken: string;

  async function gql(
    query: string,
    variables: Record<string, unknown> = {},
    token: string = adminToken,
  ): Promise<GqlResponse> {
    const res = await app.inject({
      method: "POST",
      url: "/graphql",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
      },
      payload: { query, variables },
    });
    return res.json() as GqlResponse;
  }

  async function keyToken(spaceId: string, level: "READ" | "WRITE" | "ADMIN") {
    const key = await auth.createApiKey({
      name: `${level}-${spaceId}`,
      admin: false,
      spaceId,
    });
    await kit.t.db
      .updateTable("api_keys")
      .set({ access_level: level })
      .where("id", "=", key.id)
      .execute();
    return (await auth.exchangeApiKey(key.id, key.secret)).token;
  }

  const gitlabInput = (name: string, space?: string) => ({
    name,
    provider: "GITLAB",
    token: "glpat-very-secret",
    webhookSecret: "hook-secret",
    ...(space ? { space } : {}),
  });

  beforeAll(async () => {
    kit = await createRunKit();
    await insertSpace(kit.t.db, "team-a");
    await insertSpace(kit.t.db, "team-b");
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const signer = createTokenSigner({
      privateKey,
      issuer: "http://stackyard.test",
      audience: "http://stackyard.test",
    });
    auth = createAuthService({
      db: kit.t.db,
      signer,
      admin: { username: "admin", password: "pw" },
    });
    adminToken = (await auth.adminLogin("admin", "pw")).token;
    vcs = createVcsModule({
      egress: createEgressGuard({ allow: [] }),
      db: kit.t.db,
      encryptor: testEncryptor(),
      access: kit.stacks.access,
      runs: vcsRunsPort(kit.runs.service),
      adapters: {},
      log: silentLog,
      clock: () => kit.now.value,
      dataDir: "/nonexistent",
      publicUrl: "http://stackyard.test",
      webhooksEndpoint: "https://hooks.stackyard.test/",
    });
    app = Fastify();
    await registerGraphQL(app, {
      auth,
      log: silentLog,
      resolvers: [
        authResolvers(auth),
        vcsResolvers({ integrations: vcs.integrations, events: vcs.events }),
      ],
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await kit?.destroy();
  });

  it("creates, updates and deletes an integration without ever returning a secret", async () => {
    const created = await gql(CREATE, { input: gitlabInput("gitlab-main") });
    expect(created.errors).toBeUndefined();
    const i = created.data?.stackyardVcsIntegrationCreate;
    expect(i).toMatchObject({
      name: "gitlab-main",
      provider: "GITLAB",
      space: "root",
      isDefault: false,
      checks: "INDIVIDUAL",
      apiUrl: "https://gitlab.com/api/v4",
      hasWebhookSecret: true,
      hasCredentials: true,
      webhookUrl: "https://hooks.stackyard.test/webhooks/gitlab-main",
    });
    expect(i.id).toMatch(/^vcs_gitlab_/);
    expect(JSON.stringify(created)).not.toMatch(/glpat|hook-secret/);

    const secretField = await gql(`{stackyardVcsIntegrations{webhookSecret}}`);
    // The type has no secret fields: asking for one is a query error.
    expect(secretField.errors).toHaveLength(1);
    expect(secretField.data ?? null).toBeNull();

    const updated = await gql(UPDATE, {
      id: i.id,
      input: { checks: "AGGREGATED", labels: ["prod"], isDefault: true },
    });
    expect(updated.data?.stackyardVcsIntegrationUpdate).toMatchObject({
      checks: "AGGREGATED",
      labels: ["prod"],
      isDefault: true,
      name: "gitlab-main",
      hasWebhookSecret: true,
    });

    const deleted = await gql(DELETE, { id: i.id });
    expect(deleted.data?.stackyardVcsIntegrationDelete).toEqual({ id: i.id });
    expect((await gql(LIST)).data?.stackyardVcsIntegrations).toEqual([]);
  });

  it("answers a bad input with the field and how to fix it", async () => {
    const res = await gql(CREATE, {
      input: { name: "gl-no-token", provider: "GITLAB", webhookSecret: "x" },
    });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toBe(
      "stackyardVcsIntegrationCreate input.token: required, a GitLab access token with the api scope",
    );
  });

  it("refuses an apiUrl on loopback, link-local or metadata addresses, naming the field", async () => {
    const metadata = await gql(CREATE, {
      input: {
        ...gitlabInput("gl-metadata"),
        apiUrl: "http://169.254.169.254/latest",
      },
    });
    expect(metadata.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(metadata.errors?.[0]?.message).toMatch(
      /^stackyardVcsIntegrationCreate input\.apiUrl: calls to 169\.254\.169\.254 are refused: it is a link-local .*STACKYARD_EGRESS_ALLOW/,
    );
    const created = await gql(CREATE, { input: gitlabInput("gl-egress") });
    const id = created.data?.stackyardVcsIntegrationCreate.id;
    const loopback = await gql(UPDATE, {
      id,
      input: { apiUrl: "http://[::1]:8080/api/v4" },
    });
    expect(loopback.errors?.[0]?.message).toMatch(
      /^stackyardVcsIntegrationUpdate input\.apiUrl: calls to ::1 are refused: it is a loopback address/,
    );
  });

  it("refuses to delete an integration stacks still use", async () => {
    const created = await gql(CREATE, { input: gitlabInput("gitlab-used") });
    const id = created.data?.stackyardVcsIntegrationCreate.id;
    await buildStack(kit.t.db, { provider: "GITLAB", vcs_integration_id: id });
    const res = await gql(DELETE, { id });
    expect(res.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    expect(res.errors?.[0]?.message).toContain("used by 1 stack(s)");
  });

  it("needs space ADMIN to write and READ to see, per space", async () => {
    const writeA = await keyToken("team-a", "WRITE");
    const adminA = await keyToken("team-a", "ADMIN");
    const readB = await keyToken("team-b", "READ");

    const refused = await gql(
      CREATE,
      { input: gitlabInput("gl-a", "team-a") },
      writeA,
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");

    const made = await gql(
      CREATE,
      { input: gitlabInput("gl-a", "team-a") },
      adminA,
    );
    expect(made.data?.stackyardVcsIntegrationCreate.space).toBe("team-a");

    const seenByA = await gql(LIST, {}, writeA);
    expect(
      seenByA.data?.stackyardVcsIntegrations.map((i: Json) => i.name),
    ).toEqual(["gl-a"]);
    const seenByB = await gql(LIST, {}, readB);
    expect(seenByB.data?.stackyardVcsIntegrations).toEqual([]);

    const hiddenUpdate = await gql(
      UPDATE,
      {
        id: made.data?.stackyardVcsIntegrationCreate.id,
        input: { description: "x" },
      },
      readB,
    );
    expect(hiddenUpdate.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("lists a stack's VCS events to readers of its space only", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GIT",
      space_id: "team-a",
    });
    await kit.t.db
      .insertInto("vcs_events")
      .values({
        id: "vev_1",
        source: "POLL",
        kind: "push",
        sha: "a".repeat(40),
      })
      .execute();
    await kit.t.db
      .insertInto("vcs_event_outcomes")
      .values({
        event_id: "vev_1",
        stack_id: stack.id,
        outcome: "IGNORED",
        reason: "the commit changes no files",
      })
      .execute();
    const readA = await keyToken("team-a", "READ");
    const readB = await keyToken("team-b", "READ");
    const seen = await gql(EVENTS, { stack: stack.id }, readA);
    expect(seen.data?.stackyardVcsEvents).toEqual([
      {
        id: "vev_1",
        outcome: "IGNORED",
        reason: "the commit changes no files",
      },
    ]);
    const hidden = await gql(EVENTS, { stack: stack.id }, readB);
    expect(hidden.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});
