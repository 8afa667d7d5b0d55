import { createHmac, generateKeyPairSync, timingSafeEqual } from "node:crypto";
import { loopbackEgress } from "../../../test/egress.ts";
import Fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { vcsRunsPort } from "../../app.ts";
import { Drain, enqueue } from "../../platform/queue/index.ts";
import { createRunKit, silentLog, type RunKit } from "../../../test/run-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import {
  createVcsModule,
  isRetryableProviderError,
  registerVcsWebhookRoute,
  WEBHOOK_BODY_LIMIT_BYTES,
  type CommitStatus,
  type ParsedWebhook,
  type VcsModule,
  type VcsProviderAdapter,
  type WebhookJob,
} from "./index.ts";
import { VcsInputError } from "./vcs-errors.ts";
import {
  VcsProviderApiError,
  VcsProviderConfigurationError,
} from "./providers/index.ts";

const SECRET = "s3cret-webhook";

/**
 * A minimal GitHub-shaped adapter (X-Hub-Signature-256, X-GitHub-Delivery, push and
 * pull_request payloads) that records what feedback it was asked to send.
 */
function testAdapter() {
  const statuses: { repository: string; sha: string; status: CommitStatus }[] =
    [];
  const comments: {
    repository: string;
    pr: number;
    marker: string;
    body: string;
  }[] = [];
  const header = (
    h: Record<string, string | string[] | undefined>,
    name: string,
  ) => {
    const v = h[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const adapter: VcsProviderAdapter = {
    kind: "GITHUB",
    verifyWebhook(integration, headers, rawBody) {
      const settings = integration.settings;
      if (settings.kind !== "GITHUB") return { ok: false, reason: "kind" };
      const sig = header(headers, "x-hub-signature-256");
      if (!sig) return { ok: false, reason: "missing X-Hub-Signature-256" };
      const want = Buffer.from(
        `sha256=${createHmac("sha256", settings.webhookSecret).update(rawBody).digest("hex")}`,
      );
      const got = Buffer.from(sig);
      if (got.length !== want.length || !timingSafeEqual(got, want))
        return { ok: false, reason: "X-Hub-Signature-256 does not match" };
      return {
        ok: true,
        deliveryId: header(headers, "x-github-delivery") ?? "",
        eventName: header(headers, "x-github-event") ?? "",
      };
    },
    parseWebhook(_integration, eventName, payload): ParsedWebhook {
      const p = payload as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      if (typeof p.repository?.full_name !== "string")
        throw new VcsInputError("repository.full_name: missing");
      if (eventName === "push") {
        const ref = String(p.ref);
        return {
          kind: "push",
          repository: p.repository.full_name,
          branch: ref.startsWith("refs/heads/") ? ref.slice(11) : null,
          tag: ref.startsWith("refs/tags/") ? ref.slice(10) : null,
          sha: p.after,
          beforeSha: p.before ?? null,
          message: p.head_commit?.message ?? "",
          author: p.head_commit?.author?.name ?? "",
          createdAt: new Date(p.head_commit?.timestamp ?? 0),
          affectedFiles: p.files ?? null,
        };
      }
      if (eventName === "pull_request")
        return {
          kind: "pull_request",
          repository: p.repository.full_name,
          action: p.action,
          number: p.number,
          headSha: p.pull_request.head.sha,
          headBranch: p.pull_request.head.ref,
          baseBranch: p.pull_request.base.ref,
          title: p.pull_request.title,
          author: "ada",
          labels: p.labels ?? [],
          draft: false,
          affectedFiles: p.files ?? null,
        };
      return { kind: "ignored", reason: `event ${eventName} is not handled` };
    },
    async setCommitStatus(_i, repository, sha, status) {
      statuses.push({ repository, sha, status });
    },
    async upsertPullRequestComment(_i, repository, pr, marker, body) {
      comments.push({ repository, pr, marker, body });
    },
    async cloneUrl() {
      throw new Error("no clone in this test");
    },
  };
  return { adapter, statuses, comments };
}

function sign(body: string | Buffer, secret = SECRET): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

const SHA1 = "1".repeat(40);
const SHA2 = "2".repeat(40);
const SHA3 = "3".repeat(40);

function pushPayload(
  sha: string,
  files: string[] | null,
  ref = "refs/heads/main",
) {
  return {
    ref,
    before: "0".repeat(40),
    after: sha,
    repository: { full_name: "Acme/Infra" },
    head_commit: {
      message: "Change the network\n\nDetails",
      author: { name: "ada" },
      timestamp: "2026-03-01T11:00:00Z",
    },
    files,
  };
}

describe("VCS webhooks (ingress, push pipeline, feedback)", () => {
  let kit: RunKit;
  let vcs: VcsModule;
  let http: FastifyInstance;
  let fake: ReturnType<typeof testAdapter>;
  let integrationName: string;
  let encryptor: ReturnType<typeof testEncryptor>;
  let delivery = 0;

  async function post(
    body: string | Buffer,
    headers: Record<string, string> = {},
    name = integrationName,
  ) {
    return http.inject({
      method: "POST",
      url: `/webhooks/${name}`,
      payload: body,
      headers: { "content-type": "application/json", ...headers },
    });
  }

  async function deliver(event: string, payload: unknown) {
    const body = JSON.stringify(payload);
    return post(body, {
      "x-hub-signature-256": sign(body),
      "x-github-delivery": `d-${++delivery}`,
      "x-github-event": event,
    });
  }

  async function queued(name: string) {
    return kit.t.db
      .selectFrom("queue_messages")
      .select(["id", "payload", "group_key"])
      .where("name", "=", name)
      .orderBy("id")
      .execute();
  }

  /** Runs every queued `vcs.handleWebhook` job, then deletes them (as an ack would). */
  async function drainWebhooks() {
    for (const m of await queued("vcs.handleWebhook")) {
      await vcs.handleWebhook(m.payload as WebhookJob);
      await kit.t.db
        .deleteFrom("queue_messages")
        .where("id", "=", m.id)
        .execute();
    }
  }

  async function drainFeedback() {
    for (let i = 0; i < 20; i++) {
      const [m] = await kit.t.db
        .selectFrom("queue_messages")
        .select(["id", "name", "payload"])
        .where("name", "in", ["vcs.reportStatus", "vcs.commentPullRequest"])
        .orderBy("id")
        .limit(1)
        .execute();
      if (!m) return;
      const job = m.payload as {
        runId: string;
        stateVersion: number;
        state: string;
      };
      if (m.name === "vcs.reportStatus") await vcs.feedback.reportStatus(job);
      else await vcs.feedback.commentPullRequest(job);
      await kit.t.db
        .deleteFrom("queue_messages")
        .where("id", "=", m.id)
        .execute();
    }
    throw new Error("feedback did not drain within 20 jobs");
  }

  async function outcomes(stackId: string) {
    return vcs.events.listForStack(ADMIN, stackId, 50);
  }

  beforeAll(async () => {
    kit = await createRunKit();
    fake = testAdapter();
    encryptor = testEncryptor();
    vcs = createVcsModule({
      egress: loopbackEgress,
      db: kit.t.db,
      encryptor,
      access: kit.stacks.access,
      runs: vcsRunsPort(kit.runs.service),
      adapters: { GITHUB: fake.adapter },
      log: silentLog,
      clock: () => kit.now.value,
      dataDir: "/nonexistent",
      publicUrl: "http://stackyard.test",
      webhooksEndpoint: "https://hooks.stackyard.test",
    });
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const integration = await vcs.integrations.create(ADMIN, {
      name: "github-main",
      provider: "GITHUB",
      isDefault: true,
      appId: "12345",
      privateKey: privateKey
        .export({ type: "pkcs1", format: "pem" })
        .toString(),
      webhookSecret: SECRET,
    });
    integrationName = integration.name;
    http = Fastify();
    await registerVcsWebhookRoute(http, {
      db: kit.t.db,
      integrations: vcs.integrations,
      adapters: vcs.adapters,
      newEventId: vcs.newEventId,
      clock: () => kit.now.value,
      log: silentLog,
      enqueue,
    });
    await http.ready();
  });

  afterAll(async () => {
    await http?.close();
    await kit?.destroy();
  });

  beforeEach(async () => {
    await kit.t.db.deleteFrom("queue_messages").execute();
    fake.statuses.length = 0;
    fake.comments.length = 0;
  });

  describe("ingress", () => {
    it("answers 404 for an unknown integration and records nothing", async () => {
      const res = await post("{}", {}, "nope");
      expect(res.statusCode).toBe(404);
      expect(res.json().message).toContain("nope");
      expect(await queued("vcs.handleWebhook")).toHaveLength(0);
    });

    it("answers 401 on a bad signature and enqueues nothing", async () => {
      const body = JSON.stringify(pushPayload(SHA1, ["infra/main.tf"]));
      const res = await post(body, {
        "x-hub-signature-256": sign(body, "wrong-secret"),
        "x-github-delivery": "bad-sig",
        "x-github-event": "push",
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().message).toContain("does not match");
      expect(await queued("vcs.handleWebhook")).toHaveLength(0);
      const deliveries = await kit.t.db
        .selectFrom("vcs_deliveries")
        .selectAll()
        .where("delivery_id", "=", "bad-sig")
        .execute();
      expect(deliveries).toHaveLength(0);
    });

    it("answers 401 when the signature header is missing", async () => {
      const res = await post("{}", { "x-github-delivery": "no-sig" });
      expect(res.statusCode).toBe(401);
      expect(res.json().message).toContain("missing X-Hub-Signature-256");
      expect(await queued("vcs.handleWebhook")).toHaveLength(0);
    });

    it("answers 413 with a clear message for an oversized payload", async () => {
      const body = Buffer.alloc(WEBHOOK_BODY_LIMIT_BYTES + 1024, 0x20);
      const res = await post(body, { "x-hub-signature-256": sign(body) });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ error: "PAYLOAD_TOO_LARGE" });
      expect(res.json().message).toContain("10 MiB");
      expect(await queued("vcs.handleWebhook")).toHaveLength(0);
    });

    it("answers 400 for a correctly signed body that is not JSON", async () => {
      const body = "{not json";
      const res = await post(body, {
        "x-hub-signature-256": sign(body),
        "x-github-delivery": "malformed",
        "x-github-event": "push",
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain("not valid JSON");
      expect(await queued("vcs.handleWebhook")).toHaveLength(0);
    });

    it("accepts GitHub's form-encoded payloads", async () => {
      const body = `payload=${encodeURIComponent(JSON.stringify({ zen: "hi", repository: { full_name: "acme/x" } }))}`;
      const res = await post(body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-hub-signature-256": sign(body),
        "x-github-delivery": "form-1",
        "x-github-event": "ping",
      });
      expect(res.statusCode).toBe(202);
      const [job] = await queued("vcs.handleWebhook");
      expect((job?.payload as WebhookJob).payload).toMatchObject({ zen: "hi" });
    });

    it("queues a verified delivery once: a redelivered id is acknowledged and not queued again", async () => {
      const body = JSON.stringify(pushPayload(SHA1, ["docs/x.md"]));
      const headers = {
        "x-hub-signature-256": sign(body),
        "x-github-delivery": "dup-1",
        "x-github-event": "push",
      };
      const first = await post(body, headers);
      expect(first.statusCode).toBe(202);
      expect(first.json()).toEqual({ status: "queued", deliveryId: "dup-1" });
      const second = await post(body, headers);
      expect(second.statusCode).toBe(200);
      expect(second.json().status).toBe("duplicate");
      const jobs = await queued("vcs.handleWebhook");
      expect(jobs).toHaveLength(1);
      expect(jobs[0]?.payload).toMatchObject({
        deliveryId: "dup-1",
        eventName: "push",
      });
    });
  });

  describe("push pipeline", () => {
    it("tracks a push touching the project root, ignores other stacks with the reason, and deduplicates per commit", async () => {
      const infra = await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "infra",
        project_root: "infra",
      });
      const docs = await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "infra",
        project_root: "docs-site",
      });
      expect(
        (await deliver("push", pushPayload(SHA1, ["infra/main.tf"])))
          .statusCode,
      ).toBe(202);
      await drainWebhooks();

      const [tracked] = await outcomes(infra.id);
      expect(tracked).toMatchObject({
        outcome: "TRACKED",
        source: "WEBHOOK",
        sha: SHA1,
        branch: "main",
      });
      expect(tracked?.reason).toContain("infra/main.tf");
      const run = await kit.t.db
        .selectFrom("runs")
        .selectAll()
        .where("id", "=", tracked!.runId!)
        .executeTakeFirstOrThrow();
      expect(run).toMatchObject({
        type: "TRACKED",
        state: "QUEUED",
        commit_sha: SHA1,
        commit_author: "ada",
        title: "Change the network",
        triggered_by: "vcs/github/ada",
      });

      const [ignored] = await outcomes(docs.id);
      expect(ignored).toMatchObject({ outcome: "IGNORED", runId: null });
      expect(ignored?.reason).toContain('project root "docs-site"');

      // The same commit again (another delivery id): no second run, and why.
      await deliver("push", pushPayload(SHA1, ["infra/main.tf"]));
      await drainWebhooks();
      const [dup] = await outcomes(infra.id);
      expect(dup?.outcome).toBe("IGNORED");
      expect(dup?.reason).toContain(`duplicate: TRACKED run ${tracked!.runId}`);
      const runs = await kit.t.db
        .selectFrom("runs")
        .select("id")
        .where("stack_id", "=", infra.id)
        .execute();
      expect(runs).toHaveLength(1);
    });

    it("processes a redelivered job once", async () => {
      const stack = await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "redeliver",
        project_root: "",
      });
      const payload = {
        ...pushPayload(SHA2, ["a.tf"]),
        repository: { full_name: "acme/redeliver" },
      };
      await deliver("push", payload);
      const [m] = await queued("vcs.handleWebhook");
      await vcs.handleWebhook(m!.payload as WebhookJob);
      await vcs.handleWebhook(m!.payload as WebhookJob);
      const events = await outcomes(stack.id);
      expect(events).toHaveLength(1);
      expect(events[0]?.outcome).toBe("TRACKED");
    });

    it("ignores tag pushes and records the reason", async () => {
      const stack = await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "tags",
      });
      await deliver("push", {
        ...pushPayload(SHA3, ["main.tf"], "refs/tags/v1.0.0"),
        repository: { full_name: "acme/tags" },
      });
      await drainWebhooks();
      const [e] = await outcomes(stack.id);
      expect(e).toMatchObject({ outcome: "IGNORED", tag: "v1.0.0" });
      expect(e?.reason).toContain("tag pushes do not trigger runs");
    });

    it("records a malformed payload as an ignored event instead of failing the job", async () => {
      await deliver("push", { nothing: true });
      const [m] = await queued("vcs.handleWebhook");
      await expect(
        vcs.handleWebhook(m!.payload as WebhookJob),
      ).resolves.toBeUndefined();
      const event = await kit.t.db
        .selectFrom("vcs_events")
        .selectAll()
        .where("id", "=", (m!.payload as WebhookJob).eventId)
        .executeTakeFirstOrThrow();
      expect(event.kind).toBe("ignored");
      expect(event.note).toContain("repository.full_name");
    });

    it("proposes pull requests, stops superseded proposed runs, and reports status and a plan comment", async () => {
      const stack = await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "prs",
        project_root: "",
      });
      const pr = (action: string, sha: string, labels: string[] = []) => ({
        action,
        number: 42,
        labels,
        files: ["main.tf"],
        repository: { full_name: "acme/prs" },
        pull_request: {
          title: "Bigger instances",
          head: { sha, ref: "feature" },
          base: { ref: "main" },
        },
      });
      const sha1 = "a".repeat(40);
      const sha2 = "b".repeat(40);
      await deliver("pull_request", pr("opened", sha1));
      await drainWebhooks();
      const [first] = await outcomes(stack.id);
      expect(first).toMatchObject({ outcome: "PROPOSED", prNumber: 42 });

      // Pending is reported for the new run.
      await drainFeedback();
      expect(fake.statuses).toEqual([
        {
          repository: "acme/prs",
          sha: sha1,
          status: expect.objectContaining({
            context: `stackyard/${stack.id}`,
            state: "pending",
            targetUrl: `http://stackyard.test/stack/${stack.id}/run/${first!.runId}`,
          }),
        },
      ]);

      await deliver("pull_request", pr("synchronize", sha2));
      await drainWebhooks();
      const [second] = await outcomes(stack.id);
      expect(second).toMatchObject({ outcome: "PROPOSED", sha: sha2 });
      const old = await kit.t.db
        .selectFrom("runs")
        .select("state")
        .where("id", "=", first!.runId!)
        .executeTakeFirstOrThrow();
      expect(old.state).toBe("CANCELED");

      // The canceled run fails its status; the new one finishes with a plan.
      await drainFeedback();
      expect(fake.statuses.map((s) => [s.sha, s.status.state])).toContainEqual([
        sha1,
        "failure",
      ]);
      fake.statuses.length = 0;
      await kit.t.db
        .updateTable("runs")
        .set({
          delta: JSON.stringify({
            addCount: 1,
            changeCount: 0,
            deleteCount: 0,
            resources: 1,
            changes: [{ address: "terraform_data.x", actions: ["create"] }],
          }),
        })
        .where("id", "=", second!.runId!)
        .execute();
      await kit.walk({ id: second!.runId! }, [
        "READY",
        "PREPARING",
        "INITIALIZING",
        "PLANNING",
        "FINISHED",
      ]);
      await drainFeedback();
      // Each job reports the run's current state, and a repeat is not sent again.
      expect(fake.statuses.map((s) => s.status.state)).toEqual(["success"]);
      expect(fake.comments).toHaveLength(1);
      expect(fake.comments[0]).toMatchObject({
        repository: "acme/prs",
        pr: 42,
        marker: `<!-- stackyard:plan:${stack.id} -->`,
      });
      expect(fake.comments[0]?.body).toContain(
        "Plan: 1 to add, 0 to change, 0 to destroy.",
      );
      expect(fake.comments[0]?.body).toContain("terraform_data.x");

      // The opt-out label: no comment for later runs of the PR.
      const sha3 = "c".repeat(40);
      await deliver(
        "pull_request",
        pr("synchronize", sha3, ["stackyard:no-comment"]),
      );
      await drainWebhooks();
      const [third] = await outcomes(stack.id);
      fake.comments.length = 0;
      await kit.walk({ id: third!.runId! }, [
        "READY",
        "PREPARING",
        "INITIALIZING",
        "PLANNING",
        "FINISHED",
      ]);
      await drainFeedback();
      expect(fake.comments).toHaveLength(0);
    });

    it("reports one aggregated status per run type for an AGGREGATED integration", async () => {
      const { privateKey } = generateKeyPairSync("rsa", {
        modulusLength: 2048,
      });
      const agg = await vcs.integrations.create(ADMIN, {
        name: "github-agg",
        provider: "GITHUB",
        appId: "777",
        checks: "AGGREGATED",
        privateKey: privateKey
          .export({ type: "pkcs1", format: "pem" })
          .toString(),
        webhookSecret: SECRET,
      });
      const stackA = await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "agg",
        vcs_integration_id: agg.id,
      });
      await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: "agg",
        vcs_integration_id: agg.id,
      });
      const body = JSON.stringify({
        ...pushPayload("d".repeat(40), ["x.tf"]),
        repository: { full_name: "acme/agg" },
      });
      const res = await post(
        body,
        {
          "x-hub-signature-256": sign(body),
          "x-github-delivery": "agg-1",
          "x-github-event": "push",
        },
        "github-agg",
      );
      expect(res.statusCode).toBe(202);
      await drainWebhooks();
      await drainFeedback();
      expect(fake.statuses.length).toBeGreaterThanOrEqual(1);
      for (const s of fake.statuses)
        expect(s.status).toMatchObject({
          context: "stackyard/tracked",
          state: "pending",
        });
      const [a] = await outcomes(stackA.id);
      expect(a?.outcome).toBe("TRACKED");
    });
  });

  describe("feedback failures", () => {
    it("dead-letters a status the provider refuses for good at once, with a log line naming the integration", async () => {
      const repoName = "gone";
      await buildStack(kit.t.db, {
        provider: "GITHUB",
        namespace: "acme",
        repository: repoName,
        project_root: "",
      });
      const sha = "e".repeat(40);
      const body = JSON.stringify({
        ...pushPayload(sha, ["main.tf"]),
        repository: { full_name: `acme/${repoName}` },
      });
      await post(body, {
        "x-hub-signature-256": sign(body),
        "x-github-delivery": "refused-1",
        "x-github-event": "push",
      });
      await drainWebhooks();
      expect(await queued("vcs.reportStatus")).toHaveLength(1);

      // A VCS module whose adapter answers like GitHub for a repository the App cannot
      // see, logging to `lines`; a real drain runs its status job.
      const lines: Record<string, unknown>[] = [];
      const log = pino(
        { level: "info" },
        { write: (line: string) => void lines.push(JSON.parse(line)) },
      ) as unknown as typeof silentLog;
      const refusing = testAdapter();
      let calls = 0;
      refusing.adapter.setCommitStatus = async () => {
        calls++;
        throw new VcsProviderApiError(
          "GitHub",
          404,
          false,
          `GitHub answered 404 to POST /repos/acme/${repoName}/statuses/${sha}: Not Found`,
        );
      };
      const failing = createVcsModule({
        egress: loopbackEgress,
        db: kit.t.db,
        encryptor,
        access: kit.stacks.access,
        runs: vcsRunsPort(kit.runs.service),
        adapters: { GITHUB: refusing.adapter },
        log,
        clock: () => kit.now.value,
        dataDir: "/nonexistent",
        publicUrl: "http://stackyard.test",
        webhooksEndpoint: "https://hooks.stackyard.test",
      });
      const drain = new Drain({
        pgPool: kit.t.pool,
        concurrency: 1,
        pollIntervalMs: 50,
        retryDelayMs: () => 10,
        log,
        catalog: { "vcs.reportStatus": failing.jobs["vcs.reportStatus"]! },
      });
      await drain.start();
      try {
        const dead = await (async () => {
          for (let i = 0; i < 200; i++) {
            const row = await kit.t.db
              .selectFrom("queue_dead_letters")
              .select(["reason", "last_error", "receive_count"])
              .where("name", "=", "vcs.reportStatus")
              .executeTakeFirst();
            if (row) return row;
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error("vcs.reportStatus was not dead-lettered in 10 s");
        })();
        expect(dead).toMatchObject({
          reason: "permanent failure",
          receive_count: 1,
        });
        expect(dead.last_error).toContain(
          "setting the commit status through GITHUB integration github-main: GitHub answered 404",
        );
      } finally {
        await drain.stop();
      }
      expect(calls).toBe(1);
      expect(await queued("vcs.reportStatus")).toHaveLength(0);
      const line = lines.find((l) =>
        String(l.msg).includes("retrying cannot help"),
      );
      expect(line).toMatchObject({
        level: 50,
        integration: "github-main",
        provider: "GITHUB",
        msg: "setting the commit status failed and retrying cannot help; the job is dead-lettered",
      });
      expect(String(line?.reason)).toContain("GitHub answered 404");
    });

    it("retries transient provider errors and fails unusable settings for good", () => {
      expect(
        isRetryableProviderError(
          new VcsProviderApiError("GitHub", 502, true, "GitHub answered 502"),
        ),
      ).toBe(true);
      expect(isRetryableProviderError(new Error("socket hang up"))).toBe(true);
      expect(
        isRetryableProviderError(
          new VcsProviderApiError("GitLab", 401, false, "GitLab refused"),
        ),
      ).toBe(false);
      expect(
        isRetryableProviderError(
          new VcsProviderConfigurationError("the private key is not a PEM"),
        ),
      ).toBe(false);
      expect(
        isRetryableProviderError(new VcsInputError("bad repository")),
      ).toBe(false);
    });
  });

  describe("integrations API", () => {
    it("never returns secrets and keeps them on an update without them", async () => {
      const list = await vcs.integrations.list(ADMIN);
      const text = JSON.stringify(list);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain("PRIVATE KEY");
      const main = list.find((i) => i.name === "github-main");
      expect(main).toMatchObject({
        provider: "GITHUB",
        isDefault: true,
        hasWebhookSecret: true,
        hasCredentials: true,
        webhookUrl: "https://hooks.stackyard.test/webhooks/github-main",
        apiUrl: "https://api.github.com",
      });
      const updated = await vcs.integrations.update(ADMIN, main!.id, {
        description: "the main one",
      });
      expect(updated.description).toBe("the main one");
      const record = await vcs.integrations.loadById(main!.id);
      expect(record?.settings).toMatchObject({
        kind: "GITHUB",
        webhookSecret: SECRET,
      });
    });

    it("allows one default integration per provider", async () => {
      await expect(
        vcs.integrations.create(ADMIN, {
          name: "gitlab-1",
          provider: "GITLAB",
          isDefault: true,
          token: "glpat-x",
          webhookSecret: "w",
        }),
      ).resolves.toMatchObject({
        isDefault: true,
        webhookUrl: expect.stringContaining("/webhooks/gitlab-1"),
      });
      await expect(
        vcs.integrations.create(ADMIN, {
          name: "gitlab-2",
          provider: "GITLAB",
          isDefault: true,
          token: "glpat-y",
          webhookSecret: "w",
        }),
      ).rejects.toThrow(/already a default GITLAB integration/);
    });

    it("names the missing and invalid fields", async () => {
      await expect(
        vcs.integrations.create(ADMIN, {
          name: "bad name!",
          provider: "GITHUB",
        }),
      ).rejects.toThrow(/input\.name: must be 1-100 letters/);
      await expect(
        vcs.integrations.create(ADMIN, {
          name: "gh-incomplete",
          provider: "GITHUB",
        }),
      ).rejects.toThrow(
        /input\.webhookSecret: required.*input\.appId: required.*input\.privateKey: required/,
      );
      await expect(
        vcs.integrations.create(ADMIN, { name: "dup", provider: "RAW_GIT" }),
      ).resolves.toMatchObject({ webhookUrl: null });
      await expect(
        vcs.integrations.create(ADMIN, { name: "dup", provider: "RAW_GIT" }),
      ).rejects.toThrow(/already exists/);
    });

    it("accepts a file:// git URL (a directory of bare repositories) but only an http(s) API URL", async () => {
      const created = await vcs.integrations.create(ADMIN, {
        name: "gitlab-mirror",
        provider: "GITLAB",
        gitUrl: "file:///srv/git-mirror/",
        apiUrl: "https://gitlab.example.com",
        token: "glpat-mirror",
        webhookSecret: "w",
      });
      expect(created).toMatchObject({
        gitUrl: "file:///srv/git-mirror",
        apiUrl: "https://gitlab.example.com",
      });
      await expect(
        vcs.integrations.update(ADMIN, created.id, {
          gitUrl: "ssh://git@gitlab.example.com",
        }),
      ).rejects.toThrow(/input\.gitUrl: must be an http\(s\) URL.*file:\/\/\//);
      await expect(
        vcs.integrations.update(ADMIN, created.id, {
          apiUrl: "file:///srv/api",
        }),
      ).rejects.toThrow(/input\.apiUrl: must be an http\(s\) URL/);
    });
  });
});
