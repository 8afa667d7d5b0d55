/**
 * Real object-storage servers for the driver tests, each on a free loopback port in a
 * temp dir: MinIO and fake-gcs-server (built by scripts/setup-toolchain.sh into the
 * toolchain cache) and Azurite (npm). Test support only; nothing in the app imports it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort } from "../ports.ts";
export { freePort } from "../ports.ts";

export const TOOLCHAIN_BIN_DIR =
  process.env.STACKYARD_BIN_DIR ??
  path.join(os.homedir(), ".cache", "stackyard", "toolchain", "bin");

export interface TestServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Stops the server (idempotent) and removes its data directory. */
  stop(): Promise<void>;
}

export const MINIO_BIN = path.join(TOOLCHAIN_BIN_DIR, "minio");
export const FAKE_GCS_BIN = path.join(TOOLCHAIN_BIN_DIR, "fake-gcs-server");
export const AZURITE_BLOB_BIN = findUp(
  path.join("node_modules", ".bin", "azurite-blob"),
);

export const MINIO_CREDENTIALS = {
  accessKeyId: "stackyard-test",
  secretAccessKey: "stackyard-test-secret",
};

/** Azurite's well-known development account (public, from its documentation). */
export const AZURITE_ACCOUNT = {
  name: "devstoreaccount1",
  key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
};

export function azuriteConnectionString(url: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT.name};AccountKey=${AZURITE_ACCOUNT.key};BlobEndpoint=${url}/${AZURITE_ACCOUNT.name};`;
}

export function startMinio(): Promise<TestServer> {
  return startServer("minio", async (port, dir) => ({
    command: MINIO_BIN,
    args: [
      "server",
      dir,
      "--address",
      `127.0.0.1:${port}`,
      "--console-address",
      `127.0.0.1:${await freePort()}`,
      "--quiet",
    ],
    env: {
      MINIO_ROOT_USER: MINIO_CREDENTIALS.accessKeyId,
      MINIO_ROOT_PASSWORD: MINIO_CREDENTIALS.secretAccessKey,
      MINIO_BROWSER: "off",
      MINIO_UPDATE: "off",
    },
    ready: async (url) =>
      (await fetch(`${url}/minio/health/ready`)).status === 200,
  }));
}

export function startFakeGcs(): Promise<TestServer> {
  return startServer("fake-gcs-server", (port, dir) => ({
    command: FAKE_GCS_BIN,
    args: [
      "-scheme",
      "http",
      "-host",
      "127.0.0.1",
      "-port",
      String(port),
      "-backend",
      "filesystem",
      "-filesystem-root",
      dir,
      "-public-host",
      `127.0.0.1:${port}`,
      "-external-url",
      `http://127.0.0.1:${port}`,
      "-log-level",
      "error",
    ],
    ready: async (url) => (await fetch(`${url}/storage/v1/b`)).status === 200,
  }));
}

export function startAzurite(): Promise<TestServer> {
  return startServer("azurite", (port, dir) => ({
    command: AZURITE_BLOB_BIN ?? "azurite-blob",
    args: [
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      "--location",
      dir,
      "--skipApiVersionCheck",
      "--loose",
      "--disableTelemetry",
      "--silent",
    ],
    // Any HTTP answer (400 for the bare root) means it is listening.
    ready: async (url) => (await fetch(`${url}/`)).status > 0,
  }));
}

interface ServerSpec {
  command: string;
  args: string[];
  env?: Record<string, string>;
  ready: (url: string) => Promise<boolean>;
}

async function startServer(
  name: string,
  spec: (port: number, dir: string) => ServerSpec | Promise<ServerSpec>,
  timeoutMs = 30_000,
): Promise<TestServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `stackyard-${name}-`));
  const port = await freePort();
  const s = await spec(port, dir);
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(s.command, s.args, {
    cwd: dir,
    env: { ...process.env, ...s.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const capture = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout?.on("data", capture);
  child.stderr?.on("data", capture);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (err) => {
      output += `\n${err.message}`;
      resolve();
    });
  });
  const stop = async () => {
    await kill(child, exited);
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      if (await s.ready(url)) return { url, port, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(
    `${name} did not become ready on ${url} within ${timeoutMs} ms:\n${output}`,
  );
}

async function kill(child: ChildProcess, exited: Promise<void>) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

function findUp(rel: string): string | null {
  let dir = import.meta.dirname;
  for (;;) {
    const candidate = path.join(dir, rel);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}
