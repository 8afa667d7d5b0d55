import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  open,
  parseServerMessage,
  type RunAssign,
  type ServerMessage,
} from "@stackyard/protocol";
import type { FastifyInstance } from "fastify";
import { registerGraphQL } from "../src/api/graphql.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
} from "../src/modules/auth/index.ts";
import {
  createRunsModule,
  registerRunWorkerRoutes,
  registerLocalWorkspaceRoutes,
  localPreviewResolvers,
  runResolvers,
  type RunRecord,
} from "../src/modules/runs/index.ts";
import { transitionRun } from "../src/modules/runs/run-repo.ts";
import type { RunState } from "../src/modules/runs/run.ts";
import { createStateService } from "../src/modules/state/index.ts";
import {
  createStacksModule,
  stackLoader,
  stackResolvers,
} from "../src/modules/stacks/index.ts";
import {
  claimIdleWorker,
  createWorkerService,
  releaseWorker,
  workerResolvers,
} from "../src/modules/workers/index.ts";
import { BuiltinBroker } from "../src/platform/broker/builtin-broker.ts";
import { InProcessTransport } from "../src/platform/broker/worker-transport.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../src/platform/http/http-server.ts";
import { createFsBlobStore } from "../src/platform/storage/index.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { buildPool, buildWorker } from "./factories.ts";
import { silentLog } from "./run-kit.ts";
import { testEncryptor } from "./stacks-fixtures.ts";

export const NAMESPACE = "stackyard";
export const API_URL = "http://stackyard.test";
export const BUCKETS = {
  runLogs: "run-logs",
  workspaces: "workspaces",
  states: "states",
  userUploadedWorkspaces: "user-uploaded-workspaces",
};

export interface Published {
  topic: string;
  raw: string;
  msg: ServerMessage;
}

/**
 * The server side of run execution wired as app.ts wires it, on real parts: Postgres
 * (a cloned template), the built-in MQTT broker on 127.0.0.1:0 with the in-process
 * transport, filesystem object storage, the state service, the worker API and GraphQL
 * on one Fastify instance (driven with `inject`). Every message the server publishes to
 * workers is collected in `published`. The run engine runs on a fake clock (`now`); run
 * tokens use real time.
 */
export async function createExecutionKit() {
  const t: TestDatabase = await createTestDatabase();
  const now = { value: new Date() };
  const clock = () => now.value;
  const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-exec-"));
  const storage = createFsBlobStore(dir);
  await storage.ensureBuckets(Object.values(BUCKETS));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pool = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const poolPublicKeyPem = pool.publicKey
    .export({ type: "spki", format: "pem" })
    .toString();
  const poolPrivateKey: KeyObject = pool.privateKey;

  const broker = new BuiltinBroker({
    host: "127.0.0.1",
    port: 0,
    namespace: NAMESPACE,
    log: silentLog,
    authenticate: async () => null,
  });
  await broker.start();
  const transport = new InProcessTransport(broker, silentLog);
  await transport.start();
  const published: Published[] = [];
  await transport.subscribe(`${NAMESPACE}/readonly/#`, (topic, payload) => {
    const parsed = parseServerMessage(payload);
    if (parsed.ok)
      published.push({ topic, raw: payload.toString("utf8"), msg: parsed.msg });
  });

  const stacksModule = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock,
  });
  const state = createStateService({
    db: t.db,
    storage,
    encryptor: testEncryptor(),
    bucket: BUCKETS.states,
    privateKey,
    publicUrl: API_URL,
    log: silentLog,
    clock,
  });
  const runs = createRunsModule({
    db: t.db,
    access: stacksModule.access,
    stacks: stacksModule.stacks,
    clock,
    log: silentLog,
    limits: { maxDurationSeconds: 4200, logSilenceTimeoutSeconds: 420 },
    execution: {
      stacks: stacksModule.stacks,
      state,
      workerSlots: { claimIdleWorker, releaseWorker },
      transport,
      namespace: NAMESPACE,
      apiUrl: API_URL,
      privateKey,
      storage,
      buckets: { runLogs: BUCKETS.runLogs, workspaces: BUCKETS.workspaces },
      localPreviews: {
        encryptor: testEncryptor(),
        bucket: BUCKETS.userUploadedWorkspaces,
      },
    },
  });
  const workers = createWorkerService({
    db: t.db,
    transport,
    clock,
    log: silentLog,
    heartbeatTimeoutSeconds: 30,
    // Tests set heartbeats explicitly and expire right away.
    startupGraceSeconds: 0,
    namespace: NAMESPACE,
    serverUrl: API_URL,
    brokerEndpoint: "127.0.0.1:1883",
    onWorkersGone: (ids, reason) =>
      runs.reconciler.failRunsOfWorkers(ids, reason),
  });
  const defaultPool = await buildPool(t.db, {
    name: "default",
    is_default: true,
    public_key: poolPublicKeyPem,
  });

  const signer = createTokenSigner({
    privateKey,
    issuer: API_URL,
    audience: API_URL,
  });
  const auth = createAuthService({
    db: t.db,
    signer,
    admin: { username: null, password: null },
  });
  const http: FastifyInstance = createHttpServer({
    log: silentLog,
    readiness: [],
    metrics: createMetricsRegistry({ service: "test" }),
  });
  const reports = runs.reports;
  const logs = runs.logs;
  if (!reports || !logs || !runs.dispatcher || !runs.runTokens)
    throw new Error("execution is not wired");
  const localPreviews = runs.localPreviews;
  if (!localPreviews) throw new Error("local previews are not wired");
  await registerRunWorkerRoutes(
    http,
    reports,
    runs.plans ?? undefined,
    localPreviews,
  );
  await registerLocalWorkspaceRoutes(http, localPreviews);
  const stackApi = stackResolvers(stacksModule.stacks);
  await registerGraphQL(http, {
    auth,
    log: silentLog,
    resolvers: [
      authResolvers(auth),
      stackApi,
      runResolvers({
        runs: runs.service,
        logs,
        plans: runs.plans ?? undefined,
        resolveStack: stackLoader(stacksModule.stacks),
      }),
      workerResolvers({
        workers,
        runs: runs.service,
        access: stacksModule.access,
      }),
      localPreviewResolvers(localPreviews),
    ],
  });
  await http.ready();
  const { token: adminToken } = await signer.sign(
    { sub: "user:admin:admin", name: "admin", admin: true },
    3600,
  );

  return {
    t,
    now,
    storage,
    privateKey,
    poolPrivateKey,
    poolPublicKeyPem,
    defaultPoolId: defaultPool.id,
    broker,
    transport,
    published,
    stacks: stacksModule.stacks,
    runs,
    localPreviews,
    dispatcher: runs.dispatcher,
    runTokens: runs.runTokens,
    reports,
    logs,
    workers,
    http,
    adminToken,

    /** The worker API bearer token of an assignment, opened with the pool's private key. */
    runToken(assign: Pick<RunAssign, "runToken">): string {
      return open(poolPrivateKey, assign.runToken.value).toString("utf8");
    },

    /** A live IDLE worker of the pool (default: the default pool). */
    addWorker(poolId?: string) {
      return buildWorker(t.db, {
        worker_pool_id: poolId ?? defaultPool.id,
        registered_at: now.value,
        last_heartbeat_at: now.value,
      });
    },

    /** Moves a run through `states` without rules (test set-up only). */
    async walk(runId: string, states: RunState[]): Promise<RunRecord> {
      let current: RunRecord | null = null;
      for (const to of states) {
        const row = await t.db
          .selectFrom("runs")
          .select("state_version")
          .where("id", "=", runId)
          .executeTakeFirstOrThrow();
        current = await transitionRun(t.db, {
          runId,
          expectedStateVersion: row.state_version,
          to,
          actor: null,
          note: null,
          now: now.value,
        });
      }
      if (!current) throw new Error("walk needs at least one state");
      return current;
    },

    async run(runId: string) {
      return t.db
        .selectFrom("runs")
        .selectAll()
        .where("id", "=", runId)
        .executeTakeFirstOrThrow();
    },

    async worker(workerId: string) {
      return t.db
        .selectFrom("workers")
        .selectAll()
        .where("id", "=", workerId)
        .executeTakeFirstOrThrow();
    },

    /** POSTs/PUTs/GETs the worker API with a bearer token. */
    async call(
      method: "GET" | "POST" | "PUT",
      url: string,
      token: string | null,
      body?: unknown,
    ) {
      const res = await http.inject({
        method,
        url,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(typeof body === "string" ? { "content-type": "text/plain" } : {}),
        },
        ...(body === undefined
          ? {}
          : { payload: typeof body === "string" ? body : (body as object) }),
      });
      return {
        status: res.statusCode,
        body: res.body,
        json: () => JSON.parse(res.body) as Record<string, unknown>,
      };
    },

    async graphql(query: string, variables: Record<string, unknown> = {}) {
      const res = await http.inject({
        method: "POST",
        url: "/graphql",
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { query, variables },
      });
      return { body: res.body, json: JSON.parse(res.body) as unknown };
    },

    async destroy() {
      await http.close();
      await transport.stop();
      await broker.stop();
      await t.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type ExecutionKit = Awaited<ReturnType<typeof createExecutionKit>>;

/** Polls `check` until it returns a value (not undefined), for at most `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
