import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseExact } from "@stackyard/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import { registerGraphQL } from "../../api/graphql.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../../platform/http/http-server.ts";
import { createLogger } from "../../platform/log/logger.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
} from "../auth/index.ts";
import { createRunPlanDocuments } from "../runs/run-plan.ts";
import { registerRunWorkerRoutes } from "../runs/run-worker-routes.ts";
import { createStacksModule } from "../stacks/index.ts";
import {
  createPoliciesModule,
  findOpaBinary,
  policyResolvers,
  type PoliciesModule,
} from "./index.ts";
import * as repo from "./policy-repo.ts";

// What Spacelift's policies rely on and Stackyard used to bend, through the GraphQL
// edge the clients use and a real OPA: numbers reach OPA exactly as written (the user's
// simulation input, a run's nanosecond times, a plan's attribute values as the worker
// uploads them), and ACCESS policies are refused with a code and the replacement named.

const OPA = findOpaBinary(null);
const haveOpa = OPA !== "opa" && existsSync(OPA);
if (!haveOpa)
  console.warn(
    "skipping the policy fidelity tests: no opa binary at ~/.cache/stackyard/toolchain/bin (run scripts/setup-toolchain.sh)",
  );

const log = createLogger({ level: "error", format: "json" });
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

const NUMBERS_POLICY = `package spacelift

import rego.v1

cost_text := sprintf("%.2f", [input.cost])
id_text := sprintf("%d", [input.id])
echo := input
`;

// 1767225600123 ms: as a double, ms * 1e6 is 1767225600122999808, not the exact value.
const RUN_CREATED_AT = new Date(1767225600123);

describe.skipIf(!haveOpa)("policy fidelity on a real OPA", () => {
  let t: TestDatabase;
  let dir: string;
  let m: PoliciesModule;
  let gql: (
    query: string,
    variables?: Record<string, unknown>,
  ) => Promise<{
    data?: Record<string, unknown> | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  }>;
  let closeHttp: () => Promise<void>;

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-policy-fidelity-"));
    const storage = createFsBlobStore(dir);
    await storage.ensureBuckets(["policy-inputs", "run-logs"]);
    const stacks = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
    });
    m = createPoliciesModule({
      db: t.db,
      access: stacks.access,
      stacks: stacks.stacks,
      storage,
      samplesBucket: "policy-inputs",
      opaUrl: null,
      binDir: path.dirname(OPA),
      timeoutsMs: {
        plan: 45_000,
        login: 5_000,
        push: 10_000,
        approval: 5_000,
        trigger: 5_000,
        notification: 10_000,
        intent: 5_000,
        combined: 300_000,
      },
      publicUrl: "http://stackyard.test",
      clock: () => new Date(),
      log,
    });
    const auth = createAuthService({
      db: t.db,
      signer: createTokenSigner({
        privateKey,
        issuer: "http://stackyard.test",
        audience: "http://stackyard.test",
      }),
      admin: { username: null, password: null },
    });
    const http = createHttpServer({
      log,
      readiness: [],
      metrics: createMetricsRegistry({ service: "test" }),
      trustedProxies: [],
    });
    await registerGraphQL(http, {
      auth,
      log,
      resolvers: [
        authResolvers(auth),
        policyResolvers({ policies: m.service, findSpace: async () => null }),
      ],
    });
    plans = createRunPlanDocuments({ storage, bucket: "run-logs", log });
    // The worker route as the launcher calls it; the run's worker token is checked by
    // the runs module, which this test leaves out: every request is the run's worker.
    await registerRunWorkerRoutes(
      http,
      {
        authorize: async (_token: string | null, runId: string) =>
          ({
            record: { id: runId, workerAssignment: 1 },
          }) as never,
        appendLog: async () => ({}) as never,
        handleEvent: async () => ({}) as never,
        putWorkspace: async () => ({}) as never,
        getWorkspace: async () => ({}) as never,
      },
      plans,
    );
    await http.ready();
    worker = http;
    const key = await auth.createApiKey({ name: "admin", admin: true });
    const { token } = await auth.exchangeApiKey(key.id, key.secret);
    gql = async (query, variables = {}) =>
      (
        await http.inject({
          method: "POST",
          url: "/graphql",
          headers: { authorization: `Bearer ${token}` },
          payload: { query, variables },
        })
      ).json();
    closeHttp = () => http.close();
  }, 60_000);

  let plans: ReturnType<typeof createRunPlanDocuments>;
  let worker: ReturnType<typeof createHttpServer>;

  afterAll(async () => {
    await closeHttp?.();
    await m?.stop();
    await t?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("passes a simulation's decimal and 19-digit integer to OPA and back unchanged", async () => {
    const input = '{"cost": 101.00, "id": 1700000000123456789, "ratio": 0.5}';
    const res = await gql(
      "mutation($body: String!, $input: String!, $type: PolicyType!) { policySimulate(body: $body, input: $input, type: $type) }",
      { body: NUMBERS_POLICY, input, type: "PLAN" },
    );
    expect(res.errors).toBeUndefined();
    const text = res.data?.policySimulate as string;
    expect(text).toContain('"cost_text":"101.00"');
    expect(text).toContain('"id_text":"1700000000123456789"');
    expect(text).toContain('"cost":101.00');
    expect(text).toContain('"id":1700000000123456789');
    expect(text).toContain('"ratio":0.5');
  });

  it("keeps a real run's plan values and nanosecond times exact in its PLAN input and sample", async () => {
    await buildStack(t.db, { id: "numbers-stack", labels: ["numbers"] });
    await m.service.create(ADMIN, {
      name: "Numbers",
      type: "PLAN",
      labels: ["autoattach:numbers"],
      body: `package spacelift

import rego.v1

sample := true

some_change := input.terraform.resource_changes[0].change.after

deny contains sprintf("cost %.2f", [some_change.cost])
deny contains sprintf("id %d", [some_change.id])
deny contains sprintf("created %d", [input.spacelift.run.created_at])
`,
    });
    await t.db
      .insertInto("runs")
      .values({
        id: "run_numbers",
        stack_id: "numbers-stack",
        type: "TRACKED",
        blocking: true,
        state: "PLANNING",
        worker_pool_id: null,
        commit_sha: "c".repeat(40),
        commit_message: "numbers",
        commit_author: "alice",
        commit_at: RUN_CREATED_AT,
        branch: "main",
        triggered_by: "alice",
        created_at: RUN_CREATED_AT,
        updated_at: RUN_CREATED_AT,
      })
      .execute();

    // The worker's upload, as tofu's numbers come out of `show -json`.
    const upload = `{"assignment": 1, "document": {"terraform_version": "1.8.0", "resource_changes": [{"address": "terraform_data.bill", "type": "terraform_data", "name": "bill", "provider_name": "terraform.io/builtin/terraform", "change": {"actions": ["create"], "before": null, "after": {"cost": 101.00, "id": 1700000000123456789}}}]}}`;
    const put = await worker.inject({
      method: "PUT",
      url: "/worker/v1/runs/run_numbers/plan",
      headers: {
        "content-type": "application/json",
        authorization: "Bearer w",
      },
      payload: upload,
    });
    expect(put.statusCode).toBe(200);
    const doc = await plans.readPlanDocument("run_numbers");
    expect(doc).not.toBeNull();

    const run = await repo.runFacts(t.db, "run_numbers");
    const verdict = await m.decisions.decidePlan(run!, doc);
    expect(verdict.errors).toEqual([]);
    expect(verdict.deny.sort()).toEqual([
      "Numbers: cost 101.00",
      "Numbers: created 1767225600123000000",
      "Numbers: id 1700000000123456789",
    ]);

    // The stored sample shows the input exactly as OPA received it.
    const samples = await m.service.samples(ADMIN, "numbers", null);
    const sample = await m.service.sample(
      ADMIN,
      "numbers",
      samples.records[0]!.key,
    );
    expect(sample?.input).toContain('"cost":101.00');
    expect(sample?.input).toContain('"id":1700000000123456789');
    expect(sample?.input).toContain('"created_at":1767225600123000000');
    // And reading it back as JSON text loses nothing either.
    expect(parseExact(sample!.input)).toBeTruthy();
  });

  it("refuses ACCESS policies with BAD_USER_INPUT naming space roles, as the provider creates them", async () => {
    // terraform-provider-spacelift's resourcePolicyCreate (PolicyCreateV2).
    const create = (type: string) =>
      gql(
        "mutation PolicyCreateV2($input: PolicyCreateInput!) { policyCreatev2(input: $input) { id name type } }",
        {
          input: {
            name: `access ${type}`,
            body: "package spacelift\n\nread { true }\n",
            type,
          },
        },
      );
    for (const type of ["ACCESS", "STACK_ACCESS"]) {
      const res = await create(type);
      expect(res.data?.policyCreatev2 ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(res.errors?.[0]?.message).toMatch(
        /ACCESS .*deprecated.*does not evaluate.*space roles/,
      );
    }
    expect(
      (
        await repo.listPolicies(t.db, {
          spaces: "all",
          types: ["ACCESS"],
          text: null,
          after: null,
          limit: 10,
        })
      ).length,
    ).toBe(0);

    // One stored by an older version cannot be attached either.
    await repo.insertPolicy(
      t.db,
      {
        id: "old-access",
        name: "Old access",
        description: "",
        type: "ACCESS",
        body: "package spacelift\n\nread { true }\n",
        labels: [],
        spaceId: "root",
        engineType: "REGO_V0",
      },
      new Date(),
    );
    await buildStack(t.db, { id: "access-stack" });
    const attach = await gql(
      "mutation($id: ID!, $stack: ID!) { policyAttach(id: $id, stack: $stack) { id } }",
      { id: "old-access", stack: "access-stack" },
    );
    expect(attach.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(attach.errors?.[0]?.message).toMatch(/space roles/);
  });
});
