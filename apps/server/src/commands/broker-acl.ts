import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { decodePoolToken } from "@stackyard/protocol";
import { createApp } from "../app.ts";
import {
  mosquittoFiles,
  type BrokerAccount,
} from "../platform/broker/mosquitto-acl.ts";
import {
  loadConfigOrReport,
  loggerFor,
  reportFatal,
  type CommonFlags,
} from "./operator.ts";

/**
 * `stackyard broker acl --out-dir <dir>`: writes Mosquitto's `passwd`, `acl` and
 * `mosquitto.conf` lines for an external broker from the pools in DATABASE_URL (their
 * tokens as last issued, decrypted with the server's key), so each pool may use only
 * its own topics. Pools whose token was issued before tokens were kept are named: reset
 * their token, then run the command again.
 */
export async function brokerAclCommand(
  flags: CommonFlags & { outDir: string },
  io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const config = loadConfigOrReport(flags, io.stderr);
  if (!config) return 2;
  if (!config.database.url) {
    io.stderr.write(
      "stackyard: `broker acl` needs DATABASE_URL: it reads the worker pools from the database.\n",
    );
    return 2;
  }
  const { username, password } = config.mqtt;
  if (!username || !password) {
    io.stderr.write(
      "stackyard: `broker acl` needs STACKYARD_MQTT_USERNAME and STACKYARD_MQTT_PASSWORD: the server's own account on the broker, written beside the pools'.\n",
    );
    return 2;
  }
  const log = loggerFor(config, "broker-acl");
  let app: Awaited<ReturnType<typeof createApp>> | null = null;
  try {
    app = await createApp(config, { databaseUrl: config.database.url, log });
    const pools: BrokerAccount[] = [];
    const missing: string[] = [];
    for (const pool of await app.workers.listPools("all")) {
      const token = await app.workers.poolToken(pool.id);
      if (token)
        pools.push({
          username: pool.id,
          password: decodePoolToken(token).credential,
        });
      else missing.push(`${pool.id} (${pool.name})`);
    }
    const dir = path.resolve(flags.outDir);
    const files = mosquittoFiles({
      namespace: config.mqtt.namespace,
      server: { username, password },
      pools,
      dir,
    });
    await mkdir(dir, { recursive: true });
    // The password file holds hashes only, still for Mosquitto's eyes alone.
    await writeFile(path.join(dir, "passwd"), files.passwd, { mode: 0o600 });
    await chmod(path.join(dir, "passwd"), 0o600);
    await writeFile(path.join(dir, "acl"), files.acl);
    await writeFile(path.join(dir, "mosquitto.conf"), files.conf);
    io.stdout.write(
      `wrote ${dir}/passwd, acl and mosquitto.conf: ${pools.length} pool(s) and the server's account ${username}.\n` +
        "Include mosquitto.conf's lines in the broker's configuration, and send Mosquitto SIGHUP after each run.\n",
    );
    for (const m of missing)
      io.stderr.write(
        `stackyard: pool ${m} has no stored token, so its workers cannot log in: reset its token (workerPoolReset, or the pool's page in the web UI), then run this again.\n`,
      );
    return 0;
  } catch (err) {
    return reportFatal(log, err, io.stderr);
  } finally {
    await app?.close();
  }
}
