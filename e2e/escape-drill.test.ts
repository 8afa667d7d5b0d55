import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive, waitFor } from "./harness.ts";
import {
  createStack,
  gitRepo,
  launcherPids,
  readRunLogs,
  startUp,
  triggerRun,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// The escape drill: a tracked stack whose `before_init` hook (.spacelift/config.yml) and
// a `local-exec` provisioner act as an attacker who can push a commit. Each attempt
// prints `ATTEMPT <name>: ESCAPED|BLOCKED`; every one must be BLOCKED, and the run must
// still finish (plan, autodeployed apply). Real `stackyard up`, real OpenTofu.
//
// The data dir lives outside /tmp on purpose: every sandbox has a private /tmp, so a data
// dir there would be hidden by accident. `up`'s default is ./.stackyard in the checkout.

const CANARY = "OTHER-RUN-CANARY-7f3a";

/**
 * The attacks, as a POSIX shell script. `$1` names the stage (hook or local-exec); the
 * targets are baked in by the test once `up` is running.
 */
function attackScript(t: {
  dataDir: string;
  otherRunDir: string;
  launcherPid: number;
  opaAddr: string;
  postgresPort: number;
  home: string;
}): string {
  const secrets = [
    "encryption-key.pem",
    "admin-api-key.json",
    "local-launcher.json",
    "postgres.password",
    "postgres/PG_VERSION",
  ].map((f) => path.join(t.dataDir, f));
  const opaProbe = t.opaAddr.startsWith("unix://")
    ? `curl -sf --max-time 3 --unix-socket ${t.opaAddr.slice(7)} http://opa/v1/policies`
    : `curl -sf --max-time 3 http://${t.opaAddr}/v1/policies`;
  return `#!/bin/sh
stage="$1"
attempt() { # name, command: ESCAPED when the command succeeds with output
  out=$(sh -c "$2" 2>/dev/null)
  if [ $? -eq 0 ] && [ -n "$out" ]; then echo "ATTEMPT $stage $1: ESCAPED"; else echo "ATTEMPT $stage $1: BLOCKED"; fi
}
${secrets.map((f) => `attempt "read ${path.relative(t.dataDir, f)}" "cat ${f}"`).join("\n")}
attempt "list the data dir" "ls -A ${t.dataDir} | grep -v '^launcher$'"
attempt "list other runs" "ls -A ${path.dirname(t.otherRunDir)} | grep run_other"
attempt "read another run's workspace" "cat ${t.otherRunDir}/workspace/secret.txt"
attempt "list the launcher's HOME" "ls -A ${t.home} | grep -v '^.cache$'"
attempt "read the launcher's environment" "cat /proc/${t.launcherPid}/environ"
attempt "signal the launcher" "kill -0 ${t.launcherPid} && echo signalled"
attempt "reach OPA" "${opaProbe}"
if command -v psql >/dev/null; then
  attempt "query Postgres" "PGCONNECT_TIMEOUT=3 psql -w -tA -h 127.0.0.1 -p ${t.postgresPort} -U postgres -d stackyard -c 'select 1'"
else
  echo "ATTEMPT $stage query Postgres: NO CLIENT"
fi
echo "ATTEMPTS $stage DONE"
`;
}

const MAIN_TF = `
resource "terraform_data" "drill" {
  input = "v1"
  provisioner "local-exec" {
    command = "sh \${path.module}/attack.sh local-exec"
  }
}
`;
const RUNTIME_CONFIG = `version: "1"
stack_defaults:
  before_init:
    - sh attack.sh hook
`;

/** `--addr` of the OPA whose parent is `parentPid` (the embedded one of this `up`). */
function embeddedOpaAddress(parentPid: number): string | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parentPid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const at = argv.indexOf("--addr");
      if (argv.includes("--server") && at >= 0) return argv[at + 1] ?? null;
    } catch {
      // gone, or not ours
    }
  }
  return null;
}

describe("escape drill under stackyard up", () => {
  let sy: Stackyard;
  let dataDir: string;

  beforeAll(async () => {
    const scratch = existsSync("/var/tmp") ? "/var/tmp" : os.homedir();
    dataDir = await mkdtemp(path.join(scratch, "stackyard-drill-"));
    sy = await startUp({}, { dataDir });
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("blocks every attempt, and the run still finishes", async () => {
    const launcherPid = (
      await waitFor("the local launcher", async () => {
        const pids = launcherPids(
          `STACKYARD_LAUNCHER_WORK_DIR=${path.join(dataDir, "launcher")}`,
        );
        return pids.length ? pids : null;
      })
    )[0] as number;
    // The embedded OPA starts on the first evaluation: a simulation starts it.
    await sy.client.request(
      `mutation($b:String!,$i:String!){policySimulate(body:$b,input:$i,type:PLAN)}`,
      { b: 'package spacelift\ndeny["x"] { false }\n', i: "{}" },
    );
    const opaAddr = await waitFor("the embedded OPA", async () =>
      embeddedOpaAddress(sy.proc.child.pid ?? -1),
    );
    const postgresPort = Number(
      (
        await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")
      ).split("\n")[3],
    );
    // What another run leaves behind while it executes.
    const otherRunDir = path.join(dataDir, "launcher", "run_other-plan-0a1b2c");
    await mkdir(path.join(otherRunDir, "workspace"), { recursive: true });
    await writeFile(path.join(otherRunDir, "workspace", "secret.txt"), CANARY);

    const repo = await gitRepo({
      "main.tf": MAIN_TF,
      ".spacelift/config.yml": RUNTIME_CONFIG,
      "attack.sh": attackScript({
        dataDir,
        otherRunDir,
        launcherPid,
        opaAddr,
        postgresPort,
        home: os.homedir(),
      }),
    });
    const stack = await createStack(sy.client, {
      name: "escape-drill",
      repository: repo,
      autodeploy: true,
    });
    const run = await triggerRun(sy.client, stack);
    const history = await waitForRunState(
      sy.client,
      stack,
      run,
      ["FINISHED", "FAILED", "STOPPED", "DISCARDED"],
      180_000,
    );
    const logs = await readRunLogs(sy.client, stack, run);
    expect(history.at(-1)?.state, logs).toBe("FINISHED");

    const attempts = logs
      .split("\n")
      .filter((l) => l.includes("ATTEMPT "))
      .map((l) => l.slice(l.indexOf("ATTEMPT ")));
    for (const stage of ["hook", "local-exec"]) {
      expect(logs).toContain(`ATTEMPTS ${stage} DONE`);
      const mine = attempts.filter((a) => a.startsWith(`ATTEMPT ${stage} `));
      expect(mine.length, logs).toBe(13);
      expect(
        mine.filter((a) => !a.endsWith(": BLOCKED")),
        logs,
      ).toEqual([]);
    }
    expect(logs).not.toContain(CANARY);
    // Untouched by the run: the launcher lives, the data dir is whole.
    expect(isAlive(launcherPid)).toBe(true);
    expect(existsSync(path.join(dataDir, "encryption-key.pem"))).toBe(true);
  }, 300_000);
});
