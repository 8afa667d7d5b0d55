import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bubblewrap, findExecutable, probeSandbox } from "./sandbox.ts";
import { hasBubblewrap } from "../../test/executor-support.ts";

const BWRAP = findExecutable("bwrap", process.env.PATH ?? "");
const HAS_BWRAP = hasBubblewrap();
// Outside /tmp on purpose: every sandbox gets a private /tmp, so secrets there prove
// nothing. /var/tmp stands for a data dir anywhere on the host (./.stackyard, /srv...).
const scratchRoot = existsSync("/var/tmp") ? "/var/tmp" : os.homedir();
const dataDir = mkdtempSync(path.join(scratchRoot, "stackyard-sandbox-test-"));
const workDir = path.join(dataDir, "launcher");
const ownRun = path.join(workDir, "run_own-plan-abc");
const otherRun = path.join(workDir, "run_other-plan-def");
const binDir = path.join(dataDir, "bin");
mkdirSync(path.join(ownRun, "workspace"), { recursive: true });
mkdirSync(path.join(otherRun, "workspace"), { recursive: true });
mkdirSync(path.join(binDir, "secret-inside-bin"), { recursive: true });
writeFileSync(path.join(dataDir, "encryption-key.pem"), "PRIVATE-KEY-CANARY");
writeFileSync(path.join(otherRun, "workspace", "x"), "OTHER-RUN-CANARY");
writeFileSync(path.join(binDir, "secret-inside-bin", "s"), "BIN-CANARY");
writeFileSync(path.join(binDir, "tool"), "#!/bin/sh\necho tool-ran\n", {
  mode: 0o755,
});

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs `script` with /bin/sh inside the sandbox of `ownRun`; stdout+stderr and status. */
function inSandbox(
  script: string,
  hiddenPaths: string[] = [],
): { out: string; status: number | null } {
  const wrap = bubblewrap(BWRAP ?? "bwrap", hiddenPaths);
  const [file, ...args] = wrap(
    [
      "/bin/sh",
      "-c",
      `{ ${script}
} 2>&1`,
    ],
    {
      runDir: ownRun,
      workDir,
      binDir,
      cwd: path.join(ownRun, "workspace"),
    },
  );
  const result = spawnSync(file ?? "", args, {
    encoding: "utf8",
    env: { PATH: `${binDir}:/usr/bin:/bin`, HOME: ownRun },
    timeout: 20_000,
  });
  return { out: result.stdout + result.stderr, status: result.status };
}

describe.skipIf(!HAS_BWRAP)("the bubblewrap sandbox", () => {
  it("hides the data dir, other runs, $HOME and host secrets", () => {
    const secrets = [
      path.join(dataDir, "encryption-key.pem"),
      path.join(otherRun, "workspace", "x"),
      "/etc/shadow",
    ];
    const { out } = inSandbox(
      [
        ...secrets.map((f) => `cat ${f} 2>/dev/null`),
        `ls -a ${workDir}`,
        `ls -a ${dataDir}`,
        `ls ${os.homedir()}/.cache 2>/dev/null`,
        "ls /root /home /var /work /run 2>/dev/null",
        "true",
      ].join("; "),
    );
    expect(out).not.toContain("PRIVATE-KEY-CANARY");
    expect(out).not.toContain("OTHER-RUN-CANARY");
    expect(out).not.toContain("run_other");
    expect(out).not.toContain("encryption-key");
    expect(out).not.toMatch(/root:[^:]*\$/);
    // The run's own directory is the only entry left on the way down to it.
    expect(out).toContain("run_own-plan-abc");
  });

  it("keeps the run's own directory writable and the tools usable", () => {
    const { out, status } = inSandbox(
      `echo hi > ${ownRun}/workspace/out && cat ${ownRun}/workspace/out && tool && git --version && test -r /etc/ssl/certs/ca-certificates.crt && echo ok`,
    );
    expect(out).toContain("hi\ntool-ran\ngit version");
    expect(out).toContain("ok");
    expect(status).toBe(0);
  });

  it("hides paths it is told about, even under a mounted directory", () => {
    const hidden = path.join(binDir, "secret-inside-bin");
    const { out } = inSandbox(`cat ${hidden}/s; tool`, [hidden]);
    expect(out).not.toContain("BIN-CANARY");
    expect(out).toContain("tool-ran");
  });

  it("cannot see or signal the launcher", () => {
    const { out } = inSandbox(
      `kill -0 ${process.pid} && echo SIGNALLED; cat /proc/${process.pid}/environ && echo ENVIRON; ls /proc | grep -c '^[0-9]'`,
    );
    expect(out).not.toContain("SIGNALLED");
    expect(out).not.toContain("ENVIRON");
    // bubblewrap's init, sh, ls, grep: a handful of pids, not the host's.
    const pids = Number(out.trim().split("\n").at(-1));
    expect(pids).toBeLessThan(8);
  });

  it("probes once and reports bubblewrap when it works", async () => {
    const status = await probeSandbox({ searchPath: process.env.PATH ?? "" });
    expect(status).toMatchObject({ kind: "bubblewrap", bwrapPath: BWRAP });
  });
});

describe("probeSandbox", () => {
  it("reports no sandbox when bubblewrap is missing", async () => {
    const status = await probeSandbox({ searchPath: "/nonexistent" });
    expect(status).toEqual({
      kind: "none",
      reason: "bubblewrap (bwrap) is not installed",
    });
  });

  it("reports no sandbox when bubblewrap cannot create one", async () => {
    // A bwrap that fails the way it does where user namespaces are forbidden.
    const fake = mkdtempSync(path.join(os.tmpdir(), "stackyard-fake-bwrap-"));
    writeFileSync(
      path.join(fake, "bwrap"),
      "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n",
      { mode: 0o755 },
    );
    try {
      const status = await probeSandbox({ searchPath: fake });
      expect(status.kind).toBe("none");
      expect(status.kind === "none" && status.reason).toContain(
        "No permissions to creating new namespace",
      );
    } finally {
      rmSync(fake, { recursive: true, force: true });
    }
  });
});
