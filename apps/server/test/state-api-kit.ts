import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { Registry } from "prom-client";
import { registerGraphQL } from "../src/api/graphql.ts";
import { createAesEncryptor } from "../src/platform/crypto/index.ts";
import type { Database } from "../src/platform/db/index.ts";
import { createHttpServer } from "../src/platform/http/http-server.ts";
import { createFsBlobStore } from "../src/platform/storage/index.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
  type AuthService,
} from "../src/modules/auth/index.ts";
import {
  createStacksModule,
  stackResolvers,
} from "../src/modules/stacks/index.ts";
import {
  createStateOperations,
  createStateService,
  registerStateApiRoutes,
  registerStateRoutes,
  stateOperationResolvers,
  stateResolvers,
  type StateOperations,
  type StateService,
} from "../src/modules/state/index.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { freePort } from "./ports.ts";

/**
 * A real API surface for the state operations: migrated database, filesystem storage
 * in a temp dir, real auth (API keys, session JWTs), the stacks module, the state
 * service and operations (with a small upload limit), and a Fastify app on 127.0.0.1
 * with the shared error handler, GraphQL, the state backend and the state REST routes.
 * `publicUrl` is the listening address, so the URLs handed out are fetchable.
 */
export interface StateApiKit {
  t: TestDatabase;
  db: Database;
  auth: AuthService;
  state: StateService;
  ops: StateOperations;
  stacks: ReturnType<typeof createStacksModule>;
  http: FastifyInstance;
  url: string;
  adminToken: string;
  uploadLimitBytes: number;
  clockOffset: { ms: number };
  logs: Array<Record<string, unknown>>;
  /** An API key (non-admin, scoped to `spaceId` at `level`), its id, secret and session token. */
  apiKey(
    spaceId: string,
    level: "READ" | "WRITE" | "ADMIN",
  ): Promise<{ id: string; secret: string; token: string }>;
  /** An admin API key, for the CLI. */
  adminKey(): Promise<{ id: string; secret: string }>;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string | null,
  ): Promise<{
    data?: T | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  }>;
  rest(
    method: "GET" | "POST",
    path: string,
    opts?: { token?: string | null; body?: unknown },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function createStateApiKit(
  opts: { uploadLimitBytes?: number } = {},
): Promise<StateApiKit> {
  const t = await createTestDatabase();
  const storageRoot = await mkdtemp(path.join(os.tmpdir(), "stackyard-sapi-"));
  const storage = createFsBlobStore(storageRoot);
  await storage.ensureBuckets(["states", "uploads"]);
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: "info" }, sink);
  const clockOffset = { ms: 0 };
  const clock = () => new Date(Date.now() + clockOffset.ms);
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const encryptor = createAesEncryptor("rsa", "dk_test", randomBytes(32));
  const signer = createTokenSigner({
    privateKey,
    issuer: url,
    audience: url,
  });
  const auth = createAuthService({
    db: t.db,
    signer,
    admin: { username: "admin", password: "pw" },
  });
  const stacks = createStacksModule({ db: t.db, encryptor, clock });
  const state = createStateService({
    db: t.db,
    storage,
    encryptor,
    bucket: "states",
    privateKey,
    publicUrl: url,
    log,
    clock,
  });
  const uploadLimitBytes = opts.uploadLimitBytes ?? 4096;
  const ops = createStateOperations({
    state,
    stacks: stacks.stacks,
    access: stacks.access,
    storage,
    encryptor,
    uploadsBucket: "uploads",
    privateKey,
    publicUrl: url,
    log,
    clock,
    uploadLimitBytes,
  });
  const http = createHttpServer({
    log: pino({ level: "silent" }),
    readiness: [],
    metrics: new Registry(),
  });
  await registerStateRoutes(http, { state, sessions: auth });
  await registerStateApiRoutes(http, { operations: ops, sessions: auth });
  await registerGraphQL(http, {
    auth,
    log: pino({ level: "silent" }),
    resolvers: [
      authResolvers(auth),
      stackResolvers(stacks.stacks, { stateImport: ops }),
      stateResolvers(state),
      stateOperationResolvers(ops),
    ],
  });
  await http.listen({ host: "127.0.0.1", port });
  const adminToken = (await auth.adminLogin("admin", "pw")).token;

  const kit: StateApiKit = {
    t,
    db: t.db,
    auth,
    state,
    ops,
    stacks,
    http,
    url,
    adminToken,
    uploadLimitBytes,
    clockOffset,
    logs,
    async apiKey(spaceId, level) {
      const key = await auth.createApiKey({
        name: `${level}-${spaceId}-${randomBytes(3).toString("hex")}`,
        admin: false,
        spaceId,
      });
      await t.db
        .updateTable("api_keys")
        .set({ access_level: level })
        .where("id", "=", key.id)
        .execute();
      const { token } = await auth.exchangeApiKey(key.id, key.secret);
      return { ...key, token };
    },
    async adminKey() {
      return auth.createApiKey({ name: "cli-admin", admin: true });
    },
    async gql(query, variables, token = adminToken) {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(variables ? { query, variables } : { query }),
      });
      return (await res.json()) as never;
    },
    async rest(method, p, o = {}) {
      const token = o.token === undefined ? adminToken : o.token;
      const res = await fetch(`${url}${p}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        body: method === "POST" ? JSON.stringify(o.body ?? {}) : undefined,
      });
      return {
        status: res.status,
        body: (await res.json()) as Record<string, unknown>,
      };
    },
    async close() {
      await http.close();
      await t.destroy();
      await rm(storageRoot, { recursive: true, force: true });
    },
  };
  return kit;
}
