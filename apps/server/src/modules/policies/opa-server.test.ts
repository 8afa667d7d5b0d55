import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { findOpaBinary } from "./opa-server.ts";

const OPA = findOpaBinary(null);
const haveOpa = OPA !== "opa" && existsSync(OPA);

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
