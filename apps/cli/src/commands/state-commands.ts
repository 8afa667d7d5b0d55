import { createWriteStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  ApiError,
  createClient,
  exchangeApiKey,
  restRequest,
  STATE_UPLOAD_URL,
  stateActionPath,
  stateVersionsPath,
  type ApiClient,
  type StateDownloadUrlRestResult,
  type StateForceUnlockResult,
  type StateVersionInfo,
  type StateVersionResult,
  type StateVersionsResult,
} from "@stackyard/api-client";
import { CredentialsError, resolveCredentials } from "../credentials.ts";

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

type Result = { code: number };

/** Largest state the server accepts for import (spacelift-reference §1.5). */
const IMPORT_LIMIT_BYTES = 100 * 1024 * 1024;
/** Transfers at least this large report progress on stderr. */
const PROGRESS_FROM_BYTES = 1024 * 1024;

interface Api {
  graphql: ApiClient;
  rest<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T>;
}

/** Runs an API action, turning API and credential errors into one line and exit code 1. */
async function withApi(
  io: Io,
  result: Result,
  dataDir: string | undefined,
  fn: (api: Api) => Promise<number>,
): Promise<void> {
  try {
    const creds = resolveCredentials(io.env, dataDir);
    let session: { jwt: string; validUntil: number } | null = null;
    const jwt = async () => {
      if (!session || Date.now() / 1000 + 30 >= session.validUntil)
        session = await exchangeApiKey(creds.endpoint, {
          id: creds.apiKeyId,
          secret: creds.apiKeySecret,
        });
      return session.jwt;
    };
    result.code = await fn({
      graphql: createClient(creds),
      rest: async <T>(method: "GET" | "POST", path: string, body?: unknown) =>
        restRequest<T>(creds.endpoint, await jwt(), method, path, body),
    });
  } catch (err) {
    if (
      err instanceof ApiError ||
      err instanceof CredentialsError ||
      err instanceof TransferError
    ) {
      io.stderr.write(`stackyard: ${err.message}\n`);
      result.code = 1;
      return;
    }
    throw err;
  }
}

class TransferError extends Error {}

const dataDirOption = () =>
  new Option(
    "--data-dir <dir>",
    "use the admin key of this `stackyard up` data directory",
  );

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError("expected an integer from 1 to 1000.");
  return n;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A throttled "verb 12.0 MiB / 40.0 MiB (30%)" line on stderr, for transfers ≥ 1 MiB. */
function progress(io: Io, verb: string, total: number | null) {
  let done = 0;
  let last = 0;
  let shown = false;
  const line = () =>
    `\r${verb} ${formatBytes(done)}${total ? ` / ${formatBytes(total)} (${Math.floor((done / total) * 100)}%)` : ""}`;
  return {
    add(n: number) {
      done += n;
      const now = Date.now();
      if (
        (total ?? done) >= PROGRESS_FROM_BYTES &&
        (now - last >= 200 || done === total)
      ) {
        last = now;
        shown = true;
        io.stderr.write(line());
      }
    },
    end() {
      if (shown) io.stderr.write(`${line()}\n`);
      return done;
    },
  };
}

function describeVersion(v: StateVersionInfo): string {
  const source = v.runId
    ? `run ${v.runId}`
    : v.restoredFromId
      ? `rollback to ${v.restoredFromId} by ${v.createdBy ?? "?"}`
      : `import by ${v.createdBy ?? "?"}`;
  return source;
}

/** GET without a bearer (the URL is pre-signed), streamed to `out` with progress. */
async function download(
  io: Io,
  url: string,
  out: NodeJS.WritableStream,
): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new TransferError(`download failed: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // Not JSON: show the text.
    }
    throw new TransferError(`download failed (HTTP ${res.status}): ${message}`);
  }
  const length = Number(res.headers.get("content-length") ?? "");
  const bar = progress(io, "downloading", length > 0 ? length : null);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bar.add(value.length);
    if (!out.write(value))
      await new Promise<void>((resolve) => out.once("drain", resolve));
  }
  return bar.end();
}

/** PUT `content` to a pre-signed upload URL (no bearer), in chunks, with progress. */
function upload(io: Io, url: string, content: Buffer): Promise<void> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? https.request : http.request;
  const bar = progress(io, "uploading", content.length);
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: "PUT",
        headers: {
          "content-type": "application/json",
          "content-length": content.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          bar.end();
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode && res.statusCode < 300) return resolve();
          let message = text.slice(0, 300);
          try {
            message =
              (JSON.parse(text) as { message?: string }).message ?? message;
          } catch {
            // Not JSON: show the text.
          }
          reject(
            new TransferError(
              `upload failed (HTTP ${res.statusCode}): ${message}`,
            ),
          );
        });
      },
    );
    req.on("error", (err) =>
      reject(new TransferError(`upload failed: ${err.message}`)),
    );
    void (async () => {
      const step = 1024 * 1024;
      for (let i = 0; i < content.length; i += step) {
        const chunk = content.subarray(i, i + step);
        if (!req.write(chunk))
          await new Promise<void>((r) => req.once("drain", r));
        bar.add(chunk.length);
      }
      req.end();
    })();
  });
}

/**
 * `stackyard state ...`: the managed state of a stack through the API (history,
 * download, rollback, import, force-unlock). Rollback and import need stack admin and
 * the stack locked by you (`spacectl stack lock` or the stackLock mutation).
 */
export function addStateCommands(
  program: Command,
  result: Result,
  io: Io,
): void {
  const state = program
    .command("state")
    .description("work with a stack's managed OpenTofu/Terraform state");

  state
    .command("versions")
    .description("list the state history of a stack, newest first")
    .requiredOption("--stack <id>", "stack id")
    .addOption(
      new Option("--limit <n>", "at most this many versions (max 1000)")
        .argParser(positiveInt)
        .default(100),
    )
    .addOption(dataDirOption())
    .action(async (opts: { stack: string; limit: number; dataDir?: string }) =>
      withApi(io, result, opts.dataDir, async (api) => {
        const { versions, lock } = await api.rest<StateVersionsResult>(
          "GET",
          stateVersionsPath(opts.stack, opts.limit),
        );
        if (lock)
          io.stderr.write(
            `state locked by run ${lock.runId} (lock ${lock.lockId}${lock.stale ? ", stale" : ""}) since ${lock.createdAt}\n`,
          );
        if (!versions.length) {
          io.stdout.write(`stack ${opts.stack} has no state versions\n`);
          return 0;
        }
        io.stdout.write("VERSION\tSERIAL\tCREATED\tSIZE\tSOURCE\tLINEAGE\n");
        for (const v of versions)
          io.stdout.write(
            `${v.id}${v.isCurrent ? " *" : ""}\t${v.serial}\t${v.createdAt}\t${v.size}\t${describeVersion(v)}\t${v.lineage}\n`,
          );
        return 0;
      }),
    );

  state
    .command("download")
    .description(
      "download the current state (or --version) to a file or stdout",
    )
    .requiredOption("--stack <id>", "stack id")
    .option("--version <id>", "a version id from `state versions`")
    .option("-o, --output <file>", "write here instead of stdout")
    .addOption(dataDirOption())
    .action(
      async (opts: {
        stack: string;
        version?: string;
        output?: string;
        dataDir?: string;
      }) =>
        withApi(io, result, opts.dataDir, async (api) => {
          const { url, versionId } = await api.rest<StateDownloadUrlRestResult>(
            "POST",
            stateActionPath(opts.stack, "download-url"),
            opts.version ? { versionId: opts.version } : {},
          );
          if (!opts.output) {
            await download(io, url, io.stdout);
            return 0;
          }
          const file = createWriteStream(opts.output, { mode: 0o600 });
          const size = await download(io, url, file);
          await new Promise<void>((resolve, reject) =>
            file.end((err?: Error | null) => (err ? reject(err) : resolve())),
          );
          io.stderr.write(
            `saved version ${versionId} (${formatBytes(size)}) to ${opts.output}\n`,
          );
          return 0;
        }),
    );

  state
    .command("rollback")
    .description(
      "make an old version current again (a new version with its content); stack admin, stack locked by you",
    )
    .requiredOption("--stack <id>", "stack id")
    .requiredOption("--version <id>", "the version to restore")
    .addOption(dataDirOption())
    .action(
      async (opts: { stack: string; version: string; dataDir?: string }) =>
        withApi(io, result, opts.dataDir, async (api) => {
          const { version } = await api.rest<StateVersionResult>(
            "POST",
            stateActionPath(opts.stack, "rollback"),
            { versionId: opts.version },
          );
          io.stdout.write(
            `rolled back stack ${opts.stack} to ${opts.version}: new current version ${version.id} (serial ${version.serial})\n`,
          );
          return 0;
        }),
    );

  state
    .command("import")
    .description(
      "upload a state file (up to 100 MB) and make it the current state; stack admin, stack locked by you, no unfinished runs",
    )
    .requiredOption("--stack <id>", "stack id")
    .requiredOption("--file <path>", "the .tfstate file")
    .addOption(dataDirOption())
    .action(async (opts: { stack: string; file: string; dataDir?: string }) =>
      withApi(io, result, opts.dataDir, async (api) => {
        const size = (await stat(opts.file)).size;
        if (size > IMPORT_LIMIT_BYTES)
          throw new TransferError(
            `${opts.file} is ${formatBytes(size)}; state imports are limited to 100 MiB`,
          );
        const content = await readFile(opts.file);
        const { stateUploadUrl } = await api.graphql.request(STATE_UPLOAD_URL);
        await upload(io, stateUploadUrl.url, content);
        const { version } = await api.rest<StateVersionResult>(
          "POST",
          stateActionPath(opts.stack, "import"),
          { objectId: stateUploadUrl.objectId },
        );
        io.stdout.write(
          `imported ${opts.file} into stack ${opts.stack}: version ${version.id} (serial ${version.serial}, lineage ${version.lineage})\n`,
        );
        return 0;
      }),
    );

  state
    .command("force-unlock")
    .description(
      "remove a stuck state lock, whoever holds it; stack admin, audited",
    )
    .requiredOption("--stack <id>", "stack id")
    .addOption(dataDirOption())
    .action(async (opts: { stack: string; dataDir?: string }) =>
      withApi(io, result, opts.dataDir, async (api) => {
        const { unlocked, lock } = await api.rest<StateForceUnlockResult>(
          "POST",
          stateActionPath(opts.stack, "force-unlock"),
        );
        io.stdout.write(
          unlocked && lock
            ? `removed the state lock ${lock.lockId} of run ${lock.runId} on stack ${opts.stack}\n`
            : `the state of stack ${opts.stack} was not locked\n`,
        );
        return 0;
      }),
    );
}
