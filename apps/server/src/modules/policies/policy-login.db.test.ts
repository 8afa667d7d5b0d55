import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  ADMIN,
  insertSpace,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import { createLogger } from "../../platform/log/logger.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import { registerGraphQL } from "../../api/graphql.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../../platform/http/http-server.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
  type Session,
} from "../auth/index.ts";
import { registerStateRoutes, type StateCaller } from "../state/index.ts";
import { createStacksModule } from "../stacks/index.ts";
import {
  createPoliciesModule,
  findOpaBinary,
  type PoliciesModule,
} from "./index.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// LOGIN policies through the auth module's real login paths (API key exchange and the
// break-glass admin), evaluated by a real OPA, and the space access the grants give.
const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe.skipIf(!haveOpa)("login policies", () => {
  let t: TestDatabase;
  let dir: string;
  let policies: PoliciesModule;
  let stacksModule: ReturnType<typeof createStacksModule>;
  let auth: ReturnType<typeof createAuthService>;

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-login-"));
    stacksModule = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
    });
    policies = createPoliciesModule({
      db: t.db,
      access: stacksModule.access,
      stacks: stacksModule.stacks,
      storage: createFsBlobStore(dir),
      samplesBucket: "policy-inputs",
      opaUrl: null,
      binDir: path.dirname(OPA),
      timeoutsMs: {
        plan: 45_000,
        login: 5_000,
        push: 10_000,
        approval: 5_000,
        trigger: 5_000,
        notification: 10_000,
        intent: 5_000,
        combined: 300_000,
      },
      publicUrl: "http://localhost:1983",
      clock: () => new Date(),
      log: createLogger({ level: "error", format: "json" }),
    });
    auth = createAuthService({
      db: t.db,
      signer: createTokenSigner({
        privateKey,
        issuer: "http://stackyard.test",
        audience: "http://stackyard.test",
      }),
      admin: { username: "breakglass", password: "long-enough-password" },
      loginPolicy: (subject) => policies.decisions.decideLogin(subject),
      lastLoginPolicyChange: () => policies.service.lastLoginPolicyChange(),
    });
    await insertSpace(t.db, "team-a");
    await insertSpace(t.db, "team-a-child", "team-a");
    await insertSpace(t.db, "team-b");
  }, 60_000);

  afterAll(async () => {
    await policies?.stop();
    await t?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const key = (name: string, spaceId = "team-b") =>
    auth.createApiKey({ name, admin: false, spaceId });
  const login = async (k: { id: string; secret: string }, ip = "127.0.0.1") =>
    auth.authenticate(
      (await auth.exchangeApiKey(k.id, k.secret, { remoteIp: ip })).token,
    );

  it("grants, denies, makes admin and gives space roles", async () => {
    const alice = await key("alice");
    // No login policy: keys log in as before.
    expect((await login(alice)).admin).toBe(false);

    await policies.service.create(ADMIN, {
      name: "Logins",
      type: "LOGIN",
      body: `package spacelift

allow { input.session.name == "alice" }
admin { input.session.name == "root-bob" }
deny { input.request.remote_ip == "10.6.6.6" }
space_write[space] { input.session.name == "carol"; space := "team-a" }
`,
    });

    const aliceSession = await login(alice);
    expect(aliceSession).toMatchObject({ kind: "api_key", admin: false });
    await expect(login(alice, "10.6.6.6")).rejects.toThrow(
      /login refused by login policy/,
    );

    const bob = await login(await key("root-bob"));
    expect(bob.admin).toBe(true);
    expect(await stacksModule.access.accessLevel(bob, "team-a")).toBe("ADMIN");

    const carol = await login(await key("carol"));
    expect(carol.policyGrants).toEqual({ "team-a": "WRITE" });
    expect(await stacksModule.access.accessLevel(carol, "team-a")).toBe(
      "WRITE",
    );
    expect(await stacksModule.access.accessLevel(carol, "team-a-child")).toBe(
      "WRITE",
    );
    // Her key's own space and level stay.
    expect(await stacksModule.access.accessLevel(carol, "team-b")).toBe("READ");
    expect(await stacksModule.access.accessLevel(carol, "root")).toBe("NONE");

    const mallory = await key("mallory");
    const refused = await auth
      .exchangeApiKey(mallory.id, mallory.secret)
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnauthorizedError);
    expect((refused as Error).message).toMatch(/the default is deny/);
  });

  it("invalidates the other sessions when login policies change", async () => {
    const ci = await auth.createApiKey({ name: "ci", admin: true });
    const before = (await auth.exchangeApiKey(ci.id, ci.secret)).token;
    await expect(auth.authenticate(before)).resolves.toMatchObject({
      id: ci.id,
    });
    // Tokens carry whole seconds: the change must come in a later second.
    await new Promise((r) => setTimeout(r, 1100));
    const changer = (await auth.exchangeApiKey(ci.id, ci.secret)).token;
    const changerSession = await auth.authenticate(changer);
    const other = await auth.createApiKey({ name: "other", admin: true });
    const otherToken = (await auth.exchangeApiKey(other.id, other.secret))
      .token;
    await new Promise((r) => setTimeout(r, 1100));
    await policies.service.create(changerSession, {
      name: "Another login rule",
      type: "LOGIN",
      body: "package spacelift\n\nallow { false }\n",
    });
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s read cache
    await expect(auth.authenticate(otherToken)).rejects.toThrow(
      /login policies changed after this session began/,
    );
    // The changer's own sessions stay; a new login works for the others.
    await expect(auth.authenticate(before)).resolves.toMatchObject({
      id: ci.id,
    });
    const fresh = (await auth.exchangeApiKey(other.id, other.secret)).token;
    await expect(auth.authenticate(fresh)).resolves.toMatchObject({
      id: other.id,
    });
  });

  it("keeps the break-glass login unless a policy explicitly denies it", async () => {
    // The policy above allows only some keys; the break-glass admin still gets in.
    await expect(
      auth.adminLogin("breakglass", "long-enough-password"),
    ).resolves.toMatchObject({ token: expect.any(String) });
    await expect(
      auth.adminLogin("breakglass", "long-enough-password", {
        remoteIp: "10.6.6.6",
      }),
    ).rejects.toThrow(/login refused by login policy/);
  });

  /**
   * The HTTP edge of both API-key login paths: apiKeyUser and the state backend's basic
   * auth, with the state service faked (it only records the session it was given).
   */
  async function edge(trustedProxies: string[] = []) {
    const http = createHttpServer({
      log: createLogger({ level: "error", format: "json" }),
      readiness: [],
      metrics: createMetricsRegistry({ service: "test" }),
      trustedProxies,
    });
    const sessions: Session[] = [];
    const denied = async () => {
      throw new Error("not used");
    };
    await registerStateRoutes(http, {
      sessions: auth,
      state: {
        authenticate: denied,
        authenticateUser: async (stackId: string, session: Session) => {
          sessions.push(session);
          return { runId: "usr", stackId } as unknown as StateCaller;
        },
        readState: async () => null,
        writeState: denied,
        lock: denied,
        unlock: denied,
        deleteState: denied,
      },
    });
    await registerGraphQL(http, {
      auth,
      log: createLogger({ level: "error", format: "json" }),
      resolvers: [authResolvers(auth)],
    });
    await http.ready();
    const basic = (k: { id: string; secret: string }) =>
      `Basic ${Buffer.from(`${k.id}:${k.secret}`).toString("base64")}`;
    return {
      http,
      sessions,
      async getState(
        k: { id: string; secret: string },
        remoteAddress: string,
        forwardedFor?: string,
      ) {
        return http.inject({
          url: "/state/stk-1",
          remoteAddress,
          headers: {
            authorization: basic(k),
            ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}),
          },
        });
      },
      async apiKeyUser(
        k: { id: string; secret: string },
        remoteAddress: string,
        forwardedFor?: string,
      ) {
        const res = await http.inject({
          method: "POST",
          url: "/graphql",
          remoteAddress,
          headers: forwardedFor ? { "x-forwarded-for": forwardedFor } : {},
          payload: {
            query:
              "mutation($id: ID!, $secret: String!) { apiKeyUser(id: $id, secret: $secret) { jwt } }",
            variables: { id: k.id, secret: k.secret },
          },
        });
        const body = res.json<{
          data: { apiKeyUser: { jwt: string } | null };
        }>();
        return body.data.apiKeyUser?.jwt ?? null;
      },
    };
  }

  it("sends the state backend's API-key basic auth through login policies", async () => {
    const e = await edge();
    try {
      const alice = await key("alice");
      expect((await e.getState(alice, "127.0.0.1")).statusCode).toBe(204);
      // Denied by the policy's remote_ip rule.
      const denied = await e.getState(alice, "10.6.6.6");
      expect(denied.statusCode).toBe(401);
      expect(denied.json<{ message: string }>().message).toMatch(
        /login refused by login policy/,
      );
      // No rule allows mallory: the default deny holds on this path too.
      const mallory = await key("mallory");
      expect((await e.getState(mallory, "127.0.0.1")).statusCode).toBe(401);
      // The policy's space grants reach the state service's session.
      const carol = await key("carol");
      expect((await e.getState(carol, "127.0.0.1")).statusCode).toBe(204);
      expect(e.sessions.at(-1)?.policyGrants).toEqual({ "team-a": "WRITE" });
    } finally {
      await e.http.close();
    }
  });

  it("ignores a client's X-Forwarded-For unless its peer is a trusted proxy", async () => {
    const alice = await key("alice");
    const direct = await edge();
    try {
      // A denied address cannot dodge the policy by claiming another one...
      expect(
        await direct.apiKeyUser(alice, "10.6.6.6", "127.0.0.1"),
      ).toBeNull();
      expect(
        (await direct.getState(alice, "10.6.6.6", "127.0.0.1")).statusCode,
      ).toBe(401);
      // ...nor can an allowed one be framed by a forged header.
      expect(await direct.apiKeyUser(alice, "127.0.0.1", "10.6.6.6")).toEqual(
        expect.any(String),
      );
    } finally {
      await direct.http.close();
    }
    const proxied = await edge(["127.0.0.1/32"]);
    try {
      // Behind a trusted proxy, the forwarded address is the client's.
      expect(
        await proxied.apiKeyUser(alice, "127.0.0.1", "10.6.6.6"),
      ).toBeNull();
      expect(
        (await proxied.getState(alice, "127.0.0.1", "10.6.6.6")).statusCode,
      ).toBe(401);
      expect(await proxied.apiKeyUser(alice, "127.0.0.1", "192.0.2.4")).toEqual(
        expect.any(String),
      );
    } finally {
      await proxied.http.close();
    }
  });

  it("replaces the session's teams with the team rule and shows them on the viewer", async () => {
    const dave = await key("dave");
    const erin = await key("erin");
    await policies.service.create(ADMIN, {
      name: "Teams",
      type: "LOGIN",
      body: `package spacelift

import rego.v1

allow if input.session.name in {"dave", "erin"}

team contains "platform" if input.session.name == "dave"

team contains "oncall" if {
  input.session.name == "dave"
  input.request.remote_ip == "127.0.0.1"
}
`,
    });
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s read cache
    const daveSession = await login(dave);
    expect(daveSession.teams).toEqual(["oncall", "platform"]);
    // The rule is defined for every login: erin's teams become the empty set.
    expect((await login(erin)).teams ?? []).toEqual([]);

    const e = await edge();
    try {
      const jwt = await e.apiKeyUser(dave, "127.0.0.1");
      expect(jwt).toEqual(expect.any(String));
      const res = await e.http.inject({
        method: "POST",
        url: "/graphql",
        remoteAddress: "127.0.0.1",
        headers: { authorization: `Bearer ${jwt}` },
        payload: { query: "{ viewer { id name teams } }" },
      });
      expect(res.json()).toEqual({
        data: {
          viewer: { id: dave.id, name: "dave", teams: ["oncall", "platform"] },
        },
      });
      // From another address the second rule does not fire, and the token says so.
      const other = await e.apiKeyUser(dave, "192.0.2.7");
      const viewer = await e.http.inject({
        method: "POST",
        url: "/graphql",
        remoteAddress: "192.0.2.7",
        headers: { authorization: `Bearer ${other}` },
        payload: { query: "{ viewer { teams } }" },
      });
      expect(viewer.json()).toEqual({
        data: { viewer: { teams: ["platform"] } },
      });
    } finally {
      await e.http.close();
    }
  });
});
