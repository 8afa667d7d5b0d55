import { createHmac, generateKeyPairSync } from "node:crypto";
import { enqueue } from "../../platform/queue/index.ts";
import fc from "fast-check";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackEgress } from "../../../test/egress.ts";
import { buildStack } from "../../../test/factories.ts";
import { createRunKit, silentLog, type RunKit } from "../../../test/run-kit.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import { vcsRunsPort } from "../../app.ts";
import {
  createVcsModule,
  registerVcsWebhookRoute,
  type VcsModule,
} from "./index.ts";
import { createGithubAdapter, createGitlabAdapter } from "./providers/index.ts";

/**
 * Fuzzes the webhook route with the real GitHub and GitLab adapters: random bodies
 * (payload-shaped objects with random values, arbitrary JSON, non-JSON bytes) and
 * headers (event names, delivery ids, content types), half of them correctly signed so
 * the payload parsers and the push pipeline run. No answer is a 5xx.
 */

const SECRET = "fuzz-webhook-secret";
let kit: RunKit;
let vcs: VcsModule;
let http: FastifyInstance;

beforeAll(async () => {
  kit = await createRunKit();
  vcs = createVcsModule({
    egress: loopbackEgress,
    db: kit.t.db,
    encryptor: testEncryptor(),
    access: kit.stacks.access,
    runs: vcsRunsPort(kit.runs.service),
    adapters: {
      GITHUB: createGithubAdapter({
        fetch: loopbackEgress.fetch,
        timeoutMs: 200,
      }),
      GITLAB: createGitlabAdapter({
        fetch: loopbackEgress.fetch,
        timeoutMs: 200,
      }),
    },
    log: silentLog,
    clock: () => kit.now.value,
    dataDir: "/nonexistent",
    publicUrl: "http://stackyard.test",
    webhooksEndpoint: "https://hooks.stackyard.test",
  });
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  await vcs.integrations.create(ADMIN, {
    name: "gh",
    provider: "GITHUB",
    isDefault: true,
    appId: "1",
    apiUrl: "http://127.0.0.1:1",
    privateKey: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    webhookSecret: SECRET,
  });
  await vcs.integrations.create(ADMIN, {
    name: "gl",
    provider: "GITLAB",
    isDefault: true,
    apiUrl: "http://127.0.0.1:1",
    token: "glpat-x",
    webhookSecret: SECRET,
  });
  await buildStack(kit.t.db, { provider: "GITHUB", repository: "acme/infra" });
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

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(
    "",
    "\u0000",
    "main",
    "refs/heads/main",
    "acme/infra",
    "0".repeat(40),
    "a".repeat(5000),
  ),
);
const value = fc.oneof(
  text,
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.json({ maxDepth: 2 }),
);
const sha = fc.oneof(
  fc.string({
    unit: fc.constantFrom(..."0123456789abcdef"),
    minLength: 40,
    maxLength: 40,
  }),
  text,
);
const repo = fc.record({
  full_name: fc.oneof(fc.constant("acme/infra"), text),
  path_with_namespace: fc.oneof(fc.constant("acme/infra"), text),
  default_branch: text,
  id: value,
});
const payload = fc.oneof(
  fc.record(
    {
      ref: fc.oneof(fc.constant("refs/heads/main"), text),
      before: sha,
      after: sha,
      checkout_sha: sha,
      repository: fc.oneof(repo, value),
      project: fc.oneof(repo, value),
      commits: fc.oneof(
        fc.array(
          fc.record({
            id: sha,
            added: fc.array(text),
            modified: fc.array(value),
            message: text,
          }),
          { maxLength: 3 },
        ),
        value,
      ),
      head_commit: fc.oneof(
        fc.record({ id: sha, message: text, timestamp: text }),
        value,
      ),
      pull_request: fc.oneof(
        fc.record({
          number: value,
          head: fc.record({ sha, ref: text }),
          base: fc.record({ ref: text }),
        }),
        value,
      ),
      object_attributes: fc.oneof(
        fc.record({
          iid: value,
          action: text,
          last_commit: fc.record({ id: sha }),
        }),
        value,
      ),
      action: text,
      installation: fc.oneof(fc.record({ id: value }), value),
      sender: value,
      user_username: value,
    },
    { requiredKeys: [] },
  ),
  fc.json(),
);
const body = fc.oneof(
  { weight: 8, arbitrary: payload.map((p) => JSON.stringify(p)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
);
const request = fc.record({
  integration: fc.constantFrom("gh", "gl", "nope", "%00", "a".repeat(300)),
  body,
  signed: fc.boolean(),
  event: fc.constantFrom(
    "push",
    "pull_request",
    "ping",
    "Push Hook",
    "Merge Request Hook",
    "",
    "x",
  ),
  contentType: fc.constantFrom(
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
  ),
});

describe("webhook routes under random bodies and headers", () => {
  it("never answer with a 5xx", async () => {
    let delivery = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {
          "content-type": r.contentType,
          "x-github-event": r.event,
          "x-gitlab-event": r.event,
          "x-github-delivery": `d-${++delivery}`,
        };
        if (r.signed) {
          headers["x-hub-signature-256"] =
            `sha256=${createHmac("sha256", SECRET).update(r.body).digest("hex")}`;
          headers["x-gitlab-token"] = SECRET;
        }
        const res = await http.inject({
          method: "POST",
          url: `/webhooks/${encodeURIComponent(r.integration)}`,
          payload: r.body,
          headers,
        });
        expect(
          res.statusCode,
          `${res.statusCode} ${res.body.slice(0, 300)}`,
        ).toBeLessThan(500);
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 15_000 },
    );
  }, 90_000);
});
