import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SETUP, skipWithout } from "../apps/server/test/tools.ts";
import { SPACECTL_COMMANDS } from "./clients-compat.ts";
import {
  exec,
  missingClients,
  SPACECTL,
  spacectlAs,
  type Exec,
} from "./clients-kit.ts";
import { graphql } from "./harness.ts";
import {
  createStack,
  git,
  gitRepo,
  startUp,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// The real spacectl against `stackyard up` (embedded Postgres, built-in broker, a local
// launcher running real OpenTofu): every command of clients-compat.ts marked "works" is
// run here, and every "not yet" row marked `unbuilt` must fail cleanly.

const skip = skipWithout(
  "the Spacelift clients",
  missingClients(true),
  SETUP.clients,
);

describe.skipIf(skip)("spacectl against Stackyard", () => {
  let sy: Stackyard;
  let key: { id: string; secret: string };
  let spacectl: (args: string[], env?: Record<string, string>) => Promise<Exec>;
  let repo: string;
  let stackId: string;
  const ran = new Set<string>();

  /** Runs `spacectl <command> ...args`, recording the command as exercised. */
  async function run(command: string, ...args: string[]): Promise<Exec> {
    expect(
      SPACECTL_COMMANDS[command],
      `${command} is in the table`,
    ).toBeDefined();
    ran.add(command);
    return spacectl([...command.split(" "), ...args]);
  }

  async function ok(command: string, ...args: string[]): Promise<string> {
    const r = await run(command, ...args);
    expect(r.code, `spacectl ${command} ${args.join(" ")}:\n${r.out}`).toBe(0);
    expect(r.out).not.toMatch(/internal error/i);
    return r.out;
  }

  const runIdOf = (out: string) => {
    const id = /\/run\/([A-Za-z0-9_-]+)/.exec(out)?.[1];
    expect(id, out).toBeTruthy();
    return id as string;
  };

  const jwt = async () => {
    const r = await graphql<{ apiKeyUser: { jwt: string } }>(
      sy.base,
      "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt}}",
      { id: key.id, secret: key.secret },
    );
    return r.data?.apiKeyUser.jwt ?? "";
  };

  beforeAll(async () => {
    sy = await startUp();
    key = JSON.parse(
      await readFile(path.join(sy.dataDir, "admin-api-key.json"), "utf8"),
    ) as { id: string; secret: string };
    spacectl = spacectlAs({
      endpoint: sy.base,
      keyId: key.id,
      keySecret: key.secret,
      home: await mkdtemp(path.join(os.tmpdir(), "spacectl-home-")),
    });
    repo = await gitRepo();
    stackId = await createStack(sy.client, {
      name: "Spacectl demo",
      repository: repo,
    });
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("whoami and version", async () => {
    expect(await ok("whoami")).toContain("first admin");
    expect(await ok("version")).toContain("spacectl version");
  });

  it("profile login with an API key, then commands from the stored profile", async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), "spacectl-profile-"));
    const asProfile = (args: string[], env: Record<string, string> = {}) =>
      exec(SPACECTL, args, { env: { HOME: home, ...env } });
    for (const c of [
      "profile login",
      "profile list",
      "profile current",
      "profile select",
      "profile export-token",
      "profile logout",
    ])
      ran.add(c);
    const login = await asProfile(
      [
        "profile",
        "login",
        "--method",
        "api",
        "--endpoint",
        sy.base,
        "stackyard",
      ],
      { SPACELIFT_API_KEY_ID: key.id, SPACELIFT_API_KEY_SECRET: key.secret },
    );
    expect(login.code, login.out).toBe(0);
    const who = await asProfile(["whoami"]);
    expect(who.code, who.out).toBe(0);
    expect(who.out).toContain("first admin");
    expect((await asProfile(["profile", "list"])).out).toContain("stackyard");
    expect((await asProfile(["profile", "current"])).out).toContain(
      "stackyard",
    );
    expect((await asProfile(["profile", "select", "stackyard"])).code).toBe(0);
    const token = await asProfile(["profile", "export-token"]);
    expect(token.out.trim().split(".")).toHaveLength(3);
    expect((await asProfile(["profile", "logout", "stackyard"])).code).toBe(0);
    expect((await asProfile(["profile", "list"])).out).not.toContain(
      "stackyard",
    );
  });

  it("lists and shows the stack, and manages its environment", async () => {
    expect(await ok("stack list")).toContain(stackId);
    expect(await ok("stack show", "--id", stackId)).toContain("Spacectl demo");
    await ok(
      "stack environment setvar",
      "--id",
      stackId,
      "TF_VAR_greeting",
      "hello",
    );
    const file = path.join(
      await mkdtemp(path.join(os.tmpdir(), "mount-")),
      "f.txt",
    );
    await writeFile(file, "mounted\n");
    await ok("stack environment mount", "--id", stackId, "notes/f.txt", file);
    const listed = await ok("stack environment list", "--id", stackId);
    expect(listed).toContain("TF_VAR_greeting");
    expect(listed).toContain("notes/f.txt");
    await ok("stack environment delete", "--id", stackId, "notes/f.txt");
    expect(await ok("stack environment list", "--id", stackId)).not.toContain(
      "notes/f.txt",
    );
  });

  it("locks, unlocks, disables and enables the stack", async () => {
    await ok("stack lock", "--id", stackId, "--note", "maintenance");
    await ok("stack unlock", "--id", stackId);
    await ok("stack disable", "--id", stackId);
    await ok("stack enable", "--id", stackId);
  });

  it("deploys with --auto-confirm --tail, then reads logs, changes, outputs, runs, state and resources", async () => {
    const out = await ok(
      "stack deploy",
      "--id",
      stackId,
      "--auto-confirm",
      "--tail",
    );
    expect(out).toMatch(/FINISHED/);
    const runId = runIdOf(out);
    expect(await ok("stack logs", "--id", stackId, "--run-latest")).toMatch(
      /terraform_data\.marker/,
    );
    expect(
      await ok(
        "stack logs",
        "--id",
        stackId,
        "--run",
        runId,
        "--phase",
        "APPLYING",
      ),
    ).toMatch(/Apply complete/);
    expect(
      await ok("stack changes", "--id", stackId, "--run", runId),
    ).toContain("terraform_data.marker");
    expect(await ok("stack outputs", "--id", stackId, "-o", "json")).toContain(
      "marker",
    );
    expect(await ok("stack run list", "--id", stackId)).toContain(runId);
    expect(await ok("stack state pull", "--id", stackId)).toContain(
      '"terraform_data"',
    );
    expect(await ok("stack resources list", "--id", stackId)).toContain(
      stackId,
    );
  }, 300_000);

  it("previews and runs a task", async () => {
    const preview = await ok("stack preview", "--id", stackId, "--tail");
    expect(preview).toMatch(/FINISHED/);
    const task = await ok(
      "stack task",
      "--id",
      stackId,
      "--tail",
      "tofu",
      "version",
    );
    expect(task).toMatch(/OpenTofu v/);
  }, 300_000);

  it("syncs the tracked commit with the branch, sets it back, and discards, confirms, cancels and retries runs", async () => {
    const first = git(repo, "rev-parse", "HEAD").trim();
    await writeFile(
      path.join(repo, "main.tf"),
      (await readFile(path.join(repo, "main.tf"), "utf8")).replace(
        '"v1"',
        '"v2"',
      ),
    );
    git(repo, "commit", "-qam", "v2");
    const second = git(repo, "rev-parse", "HEAD").trim();

    await ok("stack set-current-commit", "--id", stackId, "--sha", first);
    await ok("stack sync-commit", "--id", stackId);
    const shown = await ok("stack show", "--id", stackId, "-o", "json");
    expect(shown).toContain(second);

    const discarded = runIdOf(await ok("stack deploy", "--id", stackId));
    await waitForRunState(
      sy.client,
      stackId,
      discarded,
      ["UNCONFIRMED"],
      180_000,
    );
    await ok("stack discard", "--id", stackId, "--run", discarded);
    await waitForRunState(sy.client, stackId, discarded, ["DISCARDED"]);

    const confirmed = runIdOf(await ok("stack deploy", "--id", stackId));
    const queued = runIdOf(await ok("stack deploy", "--id", stackId));
    await ok("stack prioritize", "--id", stackId, "--run", queued);
    await ok("stack deprioritize", "--id", stackId, "--run", queued);
    await ok("stack cancel", "--id", stackId, "--run", queued);
    await waitForRunState(sy.client, stackId, queued, ["CANCELED"]);
    await waitForRunState(
      sy.client,
      stackId,
      confirmed,
      ["UNCONFIRMED"],
      180_000,
    );
    expect(
      await ok("stack confirm", "--id", stackId, "--run", confirmed, "--tail"),
    ).toMatch(/FINISHED/);

    // A commit the repository does not have: the run fails, and can be retried.
    const missing = "0123456789abcdef0123456789abcdef01234567";
    await ok("stack set-current-commit", "--id", stackId, "--sha", missing);
    const failed = runIdOf(await ok("stack deploy", "--id", stackId));
    await waitForRunState(sy.client, stackId, failed, ["FAILED"], 180_000);
    const retried = runIdOf(
      await ok("stack retry", "--id", stackId, "--run", failed),
    );
    expect(retried).not.toBe(failed);
    await waitForRunState(sy.client, stackId, retried, ["FAILED"], 180_000);
    await ok("stack sync-commit", "--id", stackId);
  }, 600_000);

  it("lists worker pools and workers, drains, undrains and cycles them", async () => {
    const pools = await ok("workerpool list");
    const poolId = /(wp_[a-z0-9]+)/.exec(pools)?.[1] ?? "";
    expect(poolId).not.toBe("");
    const workers = await ok(
      "workerpool worker list",
      "--pool-id",
      poolId,
      "-o",
      "json",
    );
    const workerId =
      (JSON.parse(workers) as Array<{ id: string }>)[0]?.id ?? "";
    expect(workerId).not.toBe("");
    await ok("workerpool worker drain", "--pool-id", poolId, "--id", workerId);
    await ok(
      "workerpool worker undrain",
      "--pool-id",
      poolId,
      "--id",
      workerId,
    );
    await ok("workerpool worker cycle", "--pool-id", poolId);
  });

  it("lists, shows, simulates policies and reads their samples", async () => {
    const created = await graphql<{ policyCreatev2: { id: string } }>(
      sy.base,
      `
        mutation ($body: String!, $name: String!, $type: PolicyType!) {
          policyCreatev2(
            input: { name: $name, body: $body, type: $type, labels: [] }
          ) {
            id
          }
        }
      `,
      {
        name: "Warn on everything",
        type: "PLAN",
        body: 'package spacelift\nwarn contains "always" if { true }\n',
      },
      await jwt(),
    );
    const policyId = created.data?.policyCreatev2.id ?? "";
    expect(policyId, JSON.stringify(created)).not.toBe("");
    expect(await ok("policy list")).toContain("Warn on everything");
    expect(await ok("policy show", "--id", policyId)).toContain(
      "warn contains",
    );
    expect(
      await ok("policy simulate", "--id", policyId, "--input", "{}"),
    ).toContain("always");
    expect((await run("policy samples", "--id", policyId)).code).toBe(0);

    // spacectl sends the input text as given: its decimal and 19-digit integer reach
    // OPA unchanged.
    const numbers = await graphql<{ policyCreatev2: { id: string } }>(
      sy.base,
      `
        mutation ($body: String!, $name: String!, $type: PolicyType!) {
          policyCreatev2(
            input: { name: $name, body: $body, type: $type, labels: [] }
          ) {
            id
          }
        }
      `,
      {
        name: "Exact numbers",
        type: "PLAN",
        body: 'package spacelift\nwarn contains sprintf("cost %.2f id %d", [input.cost, input.id]) if { true }\n',
      },
      await jwt(),
    );
    const numbersId = numbers.data?.policyCreatev2.id ?? "";
    expect(numbersId, JSON.stringify(numbers)).not.toBe("");
    expect(
      await ok(
        "policy simulate",
        "--id",
        numbersId,
        "--input",
        '{"cost": 101.00, "id": 1700000000123456789}',
      ),
    ).toContain("cost 101.00 id 1700000000123456789");
  });

  it("deletes a stack", async () => {
    const other = await createStack(sy.client, {
      name: "Spacectl doomed",
      repository: repo,
    });
    expect(
      await ok("stack delete", "--id", other, "--skip-confirmation"),
    ).toMatch(/deleted/);
    expect(await ok("stack list")).not.toContain(other);
  });

  it("fails cleanly, naming the feature, for every command whose feature is not built", async () => {
    const args: Record<string, string[]> = {
      "stack local-preview": ["--id", stackId],
      "module list": [],
      "module create-version": ["--id", "some-module"],
      "blueprint list": [],
      "blueprint show": ["--blueprint-id", "some-blueprint"],
      "audit-trail list": [],
      "run-external-dependency mark-completed": [
        "--id",
        "dep",
        "--status",
        "finished",
      ],
    };
    for (const [command, c] of Object.entries(SPACECTL_COMMANDS)) {
      if (c.status !== "not yet" || c.checked !== "unbuilt") continue;
      const r = await run(command, ...(args[command] ?? []));
      expect(r.code, `${command}: ${r.out}`).not.toBe(0);
      expect(r.out, command).toContain("is not supported by Stackyard yet");
      expect(r.out, command).toContain(c.feature);
      expect(r.out, command).not.toMatch(/internal error/i);
    }
  }, 120_000);

  it("refuses a local preview cleanly: the stack setting cannot be turned on yet", async () => {
    const r = await run("stack local-preview", "--id", stackId);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain("local preview has not been enabled");
    expect(r.out).not.toMatch(/internal error/i);
  });

  it("runs every command the compatibility table says works", () => {
    const notRun = Object.entries(SPACECTL_COMMANDS)
      .filter(([c, v]) => v.status === "works" && !ran.has(c))
      .map(([c]) => c);
    expect(notRun).toEqual([]);
  });
});
