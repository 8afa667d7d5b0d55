import { open, type RunAssign } from "@stackyard/protocol";
import { loopbackEgress } from "../../../test/egress.ts";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vcsRunsPort } from "../../app.ts";
import {
  createExecutionKit,
  waitFor,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import {
  startFakeGithub,
  type FakeGithub,
} from "../../../test/fakes/fake-github.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import { createRunDispatcher } from "../runs/index.ts";
import { createSpaceAccess } from "../stacks/index.ts";
import { claimIdleWorker, releaseWorker } from "../workers/index.ts";
import { createVcsModule, type VcsModule } from "./index.ts";
import { createGithubAdapter } from "./providers/index.ts";

// Dispatch of GitHub stacks that name only namespace and repository: the run's clone URL
// comes from the integration's adapter (the real GitHub App adapter against the fake
// GitHub API, so it carries a real installation token) and travels sealed.

describe("clone URLs of GitHub stacks in run.assign", () => {
  let kit: ExecutionKit;
  let github: FakeGithub;
  let vcs: VcsModule;
  let dispatcher: ReturnType<typeof createRunDispatcher>;
  let integrationId: string;

  beforeAll(async () => {
    kit = await createExecutionKit();
    github = await startFakeGithub();
    github.install("acme");
    vcs = createVcsModule({
      egress: loopbackEgress,
      db: kit.t.db,
      encryptor: testEncryptor(),
      access: createSpaceAccess(kit.t.db),
      runs: vcsRunsPort(kit.runs.service),
      adapters: {
        GITHUB: createGithubAdapter({ fetch: loopbackEgress.fetch }),
      },
      log: silentLog,
      clock: () => new Date(),
      dataDir: "/nonexistent",
      publicUrl: "http://stackyard.test",
      webhooksEndpoint: "http://stackyard.test",
    });
    const integration = await vcs.integrations.create(ADMIN, {
      name: "github-clone",
      provider: "GITHUB",
      apiUrl: github.url,
      gitUrl: "https://github.example.com",
      appId: github.app.id,
      privateKey: github.app.privateKeyPem,
      webhookSecret: "w",
    });
    integrationId = integration.id;
    // The kit's dispatcher with the port app.ts wires.
    dispatcher = createRunDispatcher({
      db: kit.t.db,
      clock: () => kit.now.value,
      log: silentLog,
      stacks: kit.stacks,
      state: {
        issueStateCredentials: () =>
          Promise.reject(new Error("these stacks manage no state")),
      },
      workerSlots: { claimIdleWorker, releaseWorker },
      transport: kit.transport,
      namespace: "stackyard",
      apiUrl: "http://stackyard.test",
      runTokens: kit.runTokens,
      maxDurationSeconds: 4200,
      cloneUrls: vcs.cloneUrls,
    });
  });

  afterAll(async () => {
    await kit?.destroy();
    await github?.close();
  });

  /** Triggers a tracked run of `stack` on a fresh worker and dispatches it. */
  async function dispatch(stack: { id: string }) {
    const worker = await kit.addWorker();
    const run = await kit.runs.service.trigger(ADMIN, {
      stackId: stack.id,
      runType: "TRACKED",
    });
    await kit.walk(run.id, ["READY"]);
    await kit.t.db
      .updateTable("workers")
      .set({ drained: true })
      .where("id", "<>", worker.id)
      .execute();
    const pass = await dispatcher.dispatch();
    await kit.t.db.updateTable("workers").set({ drained: false }).execute();
    return { run, worker, pass };
  }

  it("seals the integration's clone URL, installation token included, and shows it only without credentials", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "acme",
      repository: "infra",
      vcs_integration_id: integrationId,
      manage_state: false,
    });
    const issued = github.tokensIssued;
    const { run, pass } = await dispatch(stack);
    expect(pass.failed).toEqual([]);
    const published = await waitFor(
      () =>
        kit.published.find(
          (p) => p.msg.type === "run.assign" && p.msg.runId === run.id,
        ),
      "run.assign",
    );
    const assign = published.msg as RunAssign;
    expect(github.tokensIssued).toBe(issued + 1);

    const { repository } = assign.spec;
    expect(repository.url).toBe("https://github.example.com/acme/infra.git");
    expect(repository.cloneUrl?.sealed).toBe(true);
    const cloneUrl = open(
      kit.poolPrivateKey,
      repository.cloneUrl?.value ?? "",
    ).toString("utf8");
    const parsed = new URL(cloneUrl);
    expect(parsed.origin + parsed.pathname).toBe(
      "https://github.example.com/acme/infra.git",
    );
    expect(parsed.username).toBe("x-access-token");
    const token = decodeURIComponent(parsed.password);
    expect(token).toMatch(/^ghs_/);

    // The token is nowhere in the clear: not on the wire, not in the database.
    expect(published.raw).not.toContain(token);
    const { rows } = await sql<{ hit: string }>`
      select 'runs' as hit from runs where row_to_json(runs)::text like ${`%${token}%`}
      union all
      select 'run_transitions' from run_transitions where row_to_json(run_transitions)::text like ${`%${token}%`}
      union all
      select 'queue_messages' from queue_messages where row_to_json(queue_messages)::text like ${`%${token}%`}
      union all
      select 'vcs_integrations' from vcs_integrations where row_to_json(vcs_integrations)::text like ${`%${token}%`}
    `.execute(kit.t.db);
    expect(rows).toEqual([]);
  });

  it("asks for no clone URL (and no token) for the apply phase, which clones nothing", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "acme",
      repository: "infra",
      vcs_integration_id: integrationId,
      manage_state: false,
    });
    const worker = await kit.addWorker();
    const run = await kit.runs.service.trigger(ADMIN, {
      stackId: stack.id,
      runType: "TRACKED",
    });
    await kit.walk(run.id, [
      "READY",
      "PREPARING",
      "INITIALIZING",
      "PLANNING",
      "UNCONFIRMED",
      "CONFIRMED",
    ]);
    await kit.t.db
      .updateTable("workers")
      .set({ drained: true })
      .where("id", "<>", worker.id)
      .execute();
    const issued = github.tokensIssued;
    const pass = await dispatcher.dispatch();
    await kit.t.db.updateTable("workers").set({ drained: false }).execute();
    expect(pass.dispatched).toContainEqual({
      runId: run.id,
      workerId: worker.id,
    });
    const published = await waitFor(
      () =>
        kit.published.find(
          (p) => p.msg.type === "run.assign" && p.msg.runId === run.id,
        ),
      "run.assign",
    );
    const assign = published.msg as RunAssign;
    expect(assign.spec.phase).toBe("apply");
    expect(assign.spec.repository.cloneUrl).toBeUndefined();
    expect(github.tokensIssued).toBe(issued);
  });

  it("clones an explicit repositoryURL as given, unsealed", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "acme",
      repository: "infra",
      repository_url: "https://mirror.example.com/acme/infra.git",
      vcs_integration_id: integrationId,
      manage_state: false,
    });
    const { run } = await dispatch(stack);
    const published = await waitFor(
      () =>
        kit.published.find(
          (p) => p.msg.type === "run.assign" && p.msg.runId === run.id,
        ),
      "run.assign",
    );
    const assign = published.msg as RunAssign;
    expect(assign.spec.repository.url).toBe(
      "https://mirror.example.com/acme/infra.git",
    );
    expect(assign.spec.repository.cloneUrl).toBeUndefined();
  });

  it("fails the run with the field to fix when a GitHub stack has no integration to clone through", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "acme",
      repository: "orphan",
      manage_state: false,
    });
    const { run, pass } = await dispatch(stack);
    expect(pass.failed).toEqual([]);
    const row = await kit.run(run.id);
    expect(row.state).toBe("FAILED");
    expect(row.failure_reason).toContain(
      `stack ${stack.id} is a GITHUB stack without a VCS integration to clone through: set vcsIntegrationId, create a default GITHUB integration, or set repositoryURL`,
    );
  });

  it("fails the run with the App's refusal when the App is not installed on the repository's owner", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "someone-else",
      repository: "infra",
      vcs_integration_id: integrationId,
      manage_state: false,
    });
    const { run } = await dispatch(stack);
    const row = await kit.run(run.id);
    expect(row.state).toBe("FAILED");
    expect(row.failure_reason).toMatch(
      /cannot be cloned through its VCS integration: .*someone-else/,
    );
  });
});
