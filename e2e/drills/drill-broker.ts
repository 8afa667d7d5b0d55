import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { canConnect } from "../run-kit.ts";
import { waitFor } from "../harness.ts";

/**
 * An external Mosquitto broker the drills own and may restart, configured as
 * docs/workers.md asks of an operator: no anonymous clients, the server under its
 * own user with the whole namespace, and each worker confined by ACL to its pool's
 * topics (username = pool id, password = the pool credential from the pool token).
 * Mosquitto's `%u` pattern confines a worker to `<ns>/writeonly/<pool>/#` and
 * `<ns>/readonly/<pool>/#`; the per-worker level is not expressible in its ACL file
 * because the client id is `<pool>:<worker>`.
 */
export class DrillBroker {
  private child: ChildProcess | null = null;
  private readonly users = new Map<string, string>();

  constructor(
    private readonly dir: string,
    readonly port: number,
    readonly namespace: string,
    readonly server: { username: string; password: string },
  ) {
    this.users.set(server.username, server.password);
  }

  get endpoint(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Adds a worker pool's credentials; takes effect at the next (re)start. */
  addPool(poolId: string, credential: string): void {
    this.users.set(poolId, credential);
  }

  async start(): Promise<void> {
    const passwd = path.join(this.dir, "mosquitto.passwd");
    const acl = path.join(this.dir, "mosquitto.acl");
    const conf = path.join(this.dir, "mosquitto.conf");
    await writeFile(passwd, "", { mode: 0o600 });
    for (const [user, password] of this.users)
      execFileSync("mosquitto_passwd", ["-b", passwd, user, password], {
        stdio: "ignore",
      });
    const ns = this.namespace;
    await writeFile(
      acl,
      [
        `pattern write ${ns}/writeonly/%u/#`,
        `pattern read ${ns}/readonly/%u/#`,
        `user ${this.server.username}`,
        `topic readwrite ${ns}/#`,
        "",
      ].join("\n"),
    );
    await writeFile(
      conf,
      [
        `listener ${this.port} 127.0.0.1`,
        "allow_anonymous false",
        `password_file ${passwd}`,
        `acl_file ${acl}`,
        "persistence false",
        // As root, Mosquitto would switch to its own user, which cannot read our files.
        `user ${os.userInfo().username}`,
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "",
      ].join("\n"),
    );
    const fd = openSync(path.join(this.dir, "logs", "mosquitto.log"), "a");
    const child = spawn("mosquitto", ["-c", conf], {
      stdio: ["ignore", "ignore", fd],
    });
    closeSync(fd);
    this.child = child;
    await waitFor(
      `mosquitto on port ${this.port}`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`mosquitto exited with ${child.exitCode}`);
        return canConnect("127.0.0.1", this.port);
      },
      15_000,
    );
  }

  /** SIGKILL: the broker vanishes without a goodbye, as a crashed host would. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }
}
