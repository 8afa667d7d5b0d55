import { spawn } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createOpaClient } from "./opa-client.ts";
import { EmbeddedOpa, findOpaBinary } from "./opa-server.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

const log = { info() {}, error() {}, warn() {}, debug() {} } as never;

/** Inodes of the TCP sockets in LISTEN state on this host (/proc/net/tcp, tcp6). */
function listeningTcpInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A" && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

/** Socket inodes a process holds open. */
function socketInodes(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`)
    .map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return "";
      }
    })
    .map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1])
    .filter((inode): inode is string => inode !== undefined);
}

// OPA has no authentication: whoever reaches its API reads and replaces every policy.
describe.skipIf(!haveOpa || process.platform !== "linux")(
  "embedded OPA reachability",
  () => {
    it("listens on a private Unix socket only, not on TCP", async () => {
      const opa = new EmbeddedOpa({ binary: OPA, log });
      try {
        const url = await opa.url();
        expect(url).toMatch(/^unix:\/\//);
        const socket = url.slice("unix://".length);
        expect(statSync(socket).mode & 0o777).toBe(0o600);
        expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);
        const pid = opa.pid();
        expect(pid).not.toBeNull();
        const listening = listeningTcpInodes();
        expect(
          socketInodes(pid ?? 0).filter((inode) => listening.has(inode)),
        ).toEqual([]);
        // The server's client still evaluates through it.
        const client = createOpaClient(opa);
        expect(await client.version()).toMatch(/^\d+\.\d+/);
        const result = await client.evaluate(
          {
            id: "p_t",
            pkg: "spacelift.p_t",
            source: "package spacelift.p_t\nallow { input.x == 1 }\n",
          },
          { x: 1 },
          10_000,
        );
        expect(result).toEqual({ allow: true });
        await opa.stop();
        expect(existsSync(path.dirname(socket))).toBe(false);
      } finally {
        await opa.stop();
      }
    }, 40_000);
  },
);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A server killed with SIGKILL cannot stop its OPA child; the kernel must (pdeathsig).
describe.skipIf(!haveOpa || process.platform !== "linux")(
  "embedded OPA lifetime",
  () => {
    it("dies with the process that started it, even on SIGKILL", async () => {
      const script = `
        import { EmbeddedOpa } from ${JSON.stringify(new URL("./opa-server.ts", import.meta.url).pathname)};
        const log = { info() {}, error() {}, warn() {}, debug() {} };
        const opa = new EmbeddedOpa({ binary: ${JSON.stringify(OPA)}, log });
        await opa.url();
        process.stdout.write(String(opa.pid()) + "\\n");
        setInterval(() => {}, 1000);
      `;
      const parent = spawn(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const opaPid = await new Promise<number>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(
          () => reject(new Error("OPA did not start within 30 s")),
          30_000,
        );
        parent.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const line = out.split("\n")[0];
          if (out.includes("\n") && line) {
            clearTimeout(timer);
            resolve(Number(line));
          }
        });
        parent.once("exit", (code) =>
          reject(new Error(`the parent exited early with ${code}`)),
        );
      });
      expect(alive(opaPid)).toBe(true);

      parent.kill("SIGKILL");
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        await new Promise((r) => setTimeout(r, 50));
        gone = !alive(opaPid);
      }
      expect(gone).toBe(true);
    }, 40_000);
  },
);

// OPA has no per-query memory limit: the process cap keeps a hungry policy off the host.
describe.skipIf(
  !haveOpa ||
    process.platform !== "linux" ||
    skipWithout(
      "prlimit",
      ["/usr/bin/prlimit", "/bin/prlimit"].some((p) => existsSync(p))
        ? null
        : "no prlimit in /usr/bin or /bin",
      SETUP.prlimit,
    ),
)("embedded OPA memory limit", () => {
  it("ends OPA, not the host, when a policy allocates past the limit, and starts it again", async () => {
    const opa = new EmbeddedOpa({ binary: OPA, log, memoryLimitMiB: 192 });
    try {
      const client = createOpaClient(opa);
      await opa.url();
      const pid = opa.pid() ?? 0;
      const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
      expect(limits).toMatch(
        new RegExp(`Max data size\\s+${192 * 1024 * 1024}\\s`),
      );
      expect(
        readFileSync(`/proc/${pid}/environ`, "utf8").split("\0"),
      ).toContain("GOMEMLIMIT=144MiB");
      // Hundreds of MiB of terms: past the cap long before the 30 s timeout.
      const hungry = {
        id: "p_big",
        pkg: "spacelift.p_big",
        source:
          "package spacelift.p_big\nn := count([x | x := numbers.range(1, 100000000)[_]])\n",
      };
      await expect(client.evaluate(hungry, {}, 30_000)).rejects.toThrow(
        /unreachable|socket hang up|ECONNRESET|closed/i,
      );
      await expect.poll(() => alive(pid), { timeout: 5_000 }).toBe(false);
      // The next evaluation starts a new OPA (after the restart backoff) and works.
      const small = {
        id: "p_ok",
        pkg: "spacelift.p_ok",
        source: "package spacelift.p_ok\nallow { input.x == 1 }\n",
      };
      expect(await client.evaluate(small, { x: 1 }, 10_000)).toEqual({
        allow: true,
      });
      expect(opa.pid()).not.toBe(pid);
    } finally {
      await opa.stop();
    }
  }, 60_000);
});
