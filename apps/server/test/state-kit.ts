import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { Registry } from "prom-client";
import { ulid } from "ulid";
import { createAesEncryptor } from "../src/platform/crypto/index.ts";
import type { Database } from "../src/platform/db/index.ts";
import { UnauthorizedError } from "../src/platform/errors.ts";
import { createHttpServer } from "../src/platform/http/http-server.ts";
import {
  createFsBlobStore,
  type BlobStore,
} from "../src/platform/storage/index.ts";
import {
  createAuthService,
  createTokenSigner,
  type AuthService,
  type Session,
} from "../src/modules/auth/index.ts";
import { createSpaceAccess } from "../src/modules/stacks/index.ts";
import type { RunType } from "../src/modules/runs/index.ts";
import {
  createStateService,
  registerStateRoutes,
  type StateService,
} from "../src/modules/state/index.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export const STATES_BUCKET = "states";
export const ADMIN: Session = {
  kind: "user",
  id: "admin:ops",
  name: "ops",
  admin: true,
};
export const NON_ADMIN: Session = {
  kind: "api_key",
  id: "01reader",
  name: "reader",
  admin: false,
};

/**
 * Everything a state-module test needs: a fresh migrated database, a filesystem blob
 * store in a temp dir, the real service with a shiftable clock, and the HTTP backend on
 * 127.0.0.1 (a Fastify app with the shared error handler and the state routes only).
 */
export interface StateKit {
  t: TestDatabase;
  db: Database;
  storage: BlobStore;
  storageRoot: string;
  service: StateService;
  /** The real auth service on the kit's database: API keys and session tokens for users outside the platform. */
  auth: AuthService;
  http: FastifyInstance;
  /** Base URL, e.g. http://127.0.0.1:12345 */
  url: string;
  /** Milliseconds added to the real time in the service's clock. */
  clockOffset: { ms: number };
  /** Parsed log lines the service wrote (info and above). */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function createStateKit(): Promise<StateKit> {
  const t = await createTestDatabase();
  const storageRoot = await mkdtemp(path.join(os.tmpdir(), "stackyard-state-"));
  const storage = createFsBlobStore(storageRoot);
  await storage.ensureBuckets([STATES_BUCKET]);
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
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const service = createStateService({
    db: t.db,
    storage,
    encryptor: createAesEncryptor("rsa", "dk_test", randomBytes(32)),
    bucket: STATES_BUCKET,
    privateKey,
    publicUrl: "http://127.0.0.1:0",
    log,
    access: createSpaceAccess(t.db),
    clock: () => new Date(Date.now() + clockOffset.ms),
  });
  const auth = createAuthService({
    db: t.db,
    signer: createTokenSigner({
      privateKey,
      issuer: "http://127.0.0.1:0",
      audience: "http://127.0.0.1:0",
    }),
    admin: { username: null, password: null },
  });
  const http = createHttpServer({
    log: pino({ level: "silent" }),
    readiness: [],
    metrics: new Registry(),
  });
  await registerStateRoutes(http, {
    state: service,
    sessions: {
      async authenticate(token) {
        if (token === "admin-token") return ADMIN;
        if (token === "reader-token") return NON_ADMIN;
        if (token.includes(".")) return auth.authenticate(token);
        throw new UnauthorizedError("unknown session token");
      },
      authenticateApiKey: (id, secret) => auth.authenticateApiKey(id, secret),
    },
  });
  await http.listen({ host: "127.0.0.1", port: 0 });
  const address = http.server.address();
  if (typeof address !== "object" || !address)
    throw new Error("no listen address");
  return {
    t,
    db: t.db,
    storage,
    storageRoot,
    service,
    auth,
    http,
    url: `http://127.0.0.1:${address.port}`,
    clockOffset,
    logs,
    async close() {
      await http.close();
      await t.destroy();
      await rm(storageRoot, { recursive: true, force: true });
    },
  };
}

export async function insertStack(
  db: Database,
  id = `stk-${randomBytes(4).toString("hex")}`,
): Promise<string> {
  await db
    .insertInto("stacks")
    .values({
      id,
      name: id,
      space_id: "root",
      repository: "infra",
      branch: "main",
    })
    .execute();
  return id;
}

export async function insertRun(
  db: Database,
  run: { stackId: string; type?: RunType; state?: string },
): Promise<string> {
  const id = `run_${ulid().toLowerCase()}`;
  const type = run.type ?? "TRACKED";
  await db
    .insertInto("runs")
    .values({
      id,
      stack_id: run.stackId,
      type,
      blocking: type !== "PROPOSED",
      state: run.state ?? "APPLYING",
    })
    .execute();
  return id;
}

export async function setRunState(
  db: Database,
  runId: string,
  state: string,
): Promise<void> {
  await db.updateTable("runs").set({ state }).where("id", "=", runId).execute();
}

/** A raw request to the state backend, as tofu would send it. */
export async function stateRequest(
  kit: Pick<StateKit, "url">,
  method: "GET" | "POST" | "LOCK" | "UNLOCK" | "DELETE",
  stackId: string,
  opts: {
    creds?: { username: string; password: string };
    bearer?: string;
    body?: string | Buffer | object;
    lockId?: string;
  } = {},
): Promise<{ status: number; text: string; json: () => unknown }> {
  const headers: Record<string, string> = {};
  if (opts.creds)
    headers.authorization = `Basic ${Buffer.from(`${opts.creds.username}:${opts.creds.password}`).toString("base64")}`;
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  let body: string | Buffer | undefined;
  if (opts.body !== undefined) {
    body =
      typeof opts.body === "string" || Buffer.isBuffer(opts.body)
        ? opts.body
        : JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  const query = opts.lockId ? `?ID=${encodeURIComponent(opts.lockId)}` : "";
  const res = await fetch(`${kit.url}/state/${stackId}${query}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

/** A minimal state file, as tofu writes it. */
export function stateFile(
  serial: number,
  lineage: string,
  outputs: Record<string, { value: unknown; sensitive?: boolean }> = {},
): string {
  return `${JSON.stringify(
    {
      version: 4,
      terraform_version: "1.10.10",
      serial,
      lineage,
      outputs: Object.fromEntries(
        Object.entries(outputs).map(([k, o]) => [
          k,
          {
            value: o.value,
            type: "string",
            ...(o.sensitive ? { sensitive: true } : {}),
          },
        ]),
      ),
      resources: [],
      check_results: null,
    },
    null,
    2,
  )}\n`;
}

export function lockInfo(
  id: string,
  operation = "OperationTypeApply",
  who = "ci@worker-1",
): Record<string, unknown> {
  return {
    ID: id,
    Operation: operation,
    Info: "",
    Who: who,
    Version: "1.10.10",
    Created: new Date().toISOString(),
    Path: "",
  };
}
