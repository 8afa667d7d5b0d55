/**
 * The authorization matrix's table: for every Query and Mutation root field, what it
 * needs and how to call it on a resource living in a given space. The test
 * (authorization-matrix.db.test.ts) calls each field as {no session, READ, WRITE, ADMIN}
 * API keys of one space on resources of {that space, a child, a sibling, the parent}
 * and derives every cell's expected outcome from the row:
 *
 * - no session: UNAUTHENTICATED (or `anonymous`, for the login mutations);
 * - the key's level on the resource's space (its own and the child: the key's level;
 *   sibling and parent: NONE) at least `need`: `ok` (default "data");
 * - NONE: `hidden` (default NOT_FOUND: a resource of a space one cannot read does not
 *   exist for the caller); otherwise FORBIDDEN.
 *
 * `need: "KEY"` rows do not depend on the resource's space (any session may), `need:
 * "ROOT_ADMIN"` rows need an admin session (no non-admin key qualifies). A field without
 * a row fails the test, so a new resolver must be classified here.
 */

export type Outcome =
  | "data"
  | "null"
  | "missing"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "BAD_USER_INPUT"
  | "CONFLICT"
  | "UNAVAILABLE"
  | "NOT_IMPLEMENTED";

export type Need = "READ" | "WRITE" | "ADMIN" | "KEY" | "ROOT_ADMIN";

/** What a row's operation may ask for about the target space; each call builds fresh rows. */
export interface Target {
  space: string;
  stack(): Promise<string>;
  context(): Promise<string>;
  policy(): Promise<string>;
  pool(): Promise<string>;
  worker(): Promise<{ pool: string; worker: string }>;
  integration(): Promise<string>;
  run(state?: string): Promise<{ stack: string; run: string }>;
  childSpace(): Promise<string>;
  attachment(): Promise<string>;
  policyAttachment(): Promise<string>;
  apiKey(): Promise<string>;
  unique(prefix: string): string;
}

export interface MatrixRow {
  need: Need;
  /** Outcome when access suffices (default "data"). */
  ok?: Outcome;
  /** Outcome when the caller cannot read the space (default NOT_FOUND). */
  hidden?: Outcome;
  /** The key's level counts whatever the resource's space (the caller's own space is judged). */
  spaceless?: boolean;
  /** Outcome without a session (default UNAUTHENTICATED). */
  anonymous?: Outcome;
  /**
   * For list fields: whether the target's item is in the answer; a "data" answer
   * without it reads as "missing".
   */
  lists?: (data: unknown, expected: string) => boolean;
  /** The item a list row looks for. */
  op(t: Target): Promise<{
    query: string;
    variables?: Record<string, unknown>;
    item?: string;
  }>;
}

const ids = (data: unknown): string[] =>
  Array.isArray(data) ? data.map((d) => (d as { id: string }).id) : [];
const edgeIds = (data: unknown): string[] =>
  ((data as { edges?: Array<{ node: { id: string } }> })?.edges ?? []).map(
    (e) => e.node.id,
  );

/** A root-admin-only field: FORBIDDEN to every non-admin key, whatever the space. */
const rootAdmin = (op: MatrixRow["op"]): MatrixRow => ({
  need: "ROOT_ADMIN",
  op,
});

const RAW_INPUT = (name: string, space: string) => ({
  name,
  space,
  provider: "GIT",
  repository: "https://git.example.com/acme/matrix.git",
  branch: "main",
  administrative: false,
  autodeploy: false,
  autoretry: false,
});
const PLAN_BODY =
  'package spacelift\n\nimport rego.v1\n\ndeny contains "x" if input.x\n';

export const MATRIX: Record<string, MatrixRow> = {
  // ---- Query
  debugInfo: {
    need: "KEY",
    anonymous: "data",
    op: async () => ({ query: "{debugInfo{__typename}}" }),
  },
  // The account's name, tier and AWS account id (spacelift_account): any session.
  name: { need: "KEY", op: async () => ({ query: "{name}" }) },
  tier: { need: "KEY", op: async () => ({ query: "{tier}" }) },
  spaceliftAwsAccountId: {
    need: "KEY",
    op: async () => ({ query: "{spaceliftAwsAccountId}" }),
  },
  policies: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => ids(d).includes(item),
    op: async (t) => ({ query: "{policies{id}}", item: await t.policy() }),
  },
  viewer: {
    need: "KEY",
    anonymous: "null",
    op: async () => ({ query: "{viewer{id}}" }),
  },
  stack: {
    need: "READ",
    hidden: "null",
    op: async (t) => ({
      query: "query($id: ID!){stack(id: $id){id}}",
      variables: { id: await t.stack() },
    }),
  },
  stacks: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => ids(d).includes(item),
    op: async (t) => ({ query: "{stacks{id}}", item: await t.stack() }),
  },
  runStack: {
    need: "READ",
    op: async (t) => ({
      query: "query($id: ID!){runStack(runId: $id){id}}",
      variables: { id: (await t.run()).run },
    }),
  },
  searchStacks: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => edgeIds(d).includes(item),
    op: async (t) => ({
      query:
        "query($i: SearchInput!){searchStacks(input: $i){edges{node{id}}}}",
      variables: { i: { first: 1000 } },
      item: await t.stack(),
    }),
  },
  module: {
    need: "KEY",
    ok: "null",
    anonymous: "null",
    op: async () => ({ query: '{module(id: "m"){id}}' }),
  },
  searchModules: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async () => ({
      query: "{searchModules(input: {first: 10}){edges{node{id}}}}",
    }),
  },
  policy: {
    need: "READ",
    hidden: "null",
    op: async (t) => ({
      query: "query($id: ID!){policy(id: $id){id}}",
      variables: { id: await t.policy() },
    }),
  },
  searchPolicies: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => edgeIds(d).includes(item),
    op: async (t) => ({
      query: "{searchPolicies(input: {first: 1000}){edges{node{id}}}}",
      item: await t.policy(),
    }),
  },
  workerPools: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => ids(d).includes(item),
    op: async (t) => ({ query: "{workerPools{id}}", item: await t.pool() }),
  },
  workerPool: {
    need: "READ",
    hidden: "null",
    op: async (t) => ({
      query: "query($id: ID!){workerPool(id: $id){id workers{id}}}",
      variables: { id: await t.pool() },
    }),
  },
  publicWorkerPool: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async () => ({ query: "{publicWorkerPool{__typename}}" }),
  },
  context: {
    need: "READ",
    hidden: "null",
    op: async (t) => ({
      query: "query($id: ID!){context(id: $id){id}}",
      variables: { id: await t.context() },
    }),
  },
  stackyardContexts: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => ids(d).includes(item),
    op: async (t) => ({
      query: "{stackyardContexts{id}}",
      item: await t.context(),
    }),
  },
  space: {
    need: "READ",
    hidden: "null",
    op: async (t) => ({
      query: "query($id: ID!){space(id: $id){id}}",
      variables: { id: t.space },
    }),
  },
  // Answers null for an id it does not show (a non-admin key sees only itself).
  apiKey: {
    need: "KEY",
    ok: "null",
    op: async (t) => ({
      query: "query($k: ID!){apiKey(id: $k){id}}",
      variables: { k: await t.apiKey() },
    }),
  },
  apiKeys: rootAdmin(async () => ({ query: "{apiKeys{id}}" })),
  roles: rootAdmin(async () => ({ query: "{roles{id}}" })),
  role: rootAdmin(async () => ({ query: '{role(id: "space-reader"){id}}' })),
  apiKeyRoleBinding: rootAdmin(async () => ({
    query: '{apiKeyRoleBinding(id: "rb_nope"){id}}',
  })),
  stackRoleBinding: rootAdmin(async () => ({
    query: '{stackRoleBinding(id: "rb_nope"){id}}',
  })),
  stackyardStackFolders: {
    need: "KEY",
    op: async () => ({ query: "{stackyardStackFolders}" }),
  },
  policyRuntime: {
    need: "KEY",
    op: async () => ({ query: "{policyRuntime{__typename}}" }),
  },
  stackyardVcsIntegrations: {
    need: "READ",
    hidden: "missing",
    lists: (d, item) => ids(d).includes(item),
    op: async (t) => ({
      query: "{stackyardVcsIntegrations{id}}",
      item: await t.integration(),
    }),
  },
  stackyardVcsIntegration: {
    need: "READ",
    hidden: "null",
    op: async (t) => ({
      query: "query($id: ID!){stackyardVcsIntegration(id: $id){id}}",
      variables: { id: await t.integration() },
    }),
  },
  stackyardVcsEvents: {
    need: "READ",
    op: async (t) => ({
      query: "query($s: ID!){stackyardVcsEvents(stack: $s){__typename}}",
      variables: { s: await t.stack() },
    }),
  },

  // ---- Mutation
  // Login mutations: wrong credentials read as null, as in Spacelift.
  apiKeyUser: {
    need: "KEY",
    ok: "null",
    anonymous: "null",
    op: async () => ({
      query: 'mutation{apiKeyUser(id: "nope", secret: "x"){id}}',
    }),
  },
  oauthUser: {
    need: "KEY",
    ok: "null",
    anonymous: "null",
    op: async () => ({ query: 'mutation{oauthUser(token: "x"){id}}' }),
  },
  ...runMutations(),
  taskCreate: {
    need: "WRITE",
    ok: "CONFLICT",
    op: async (t) => ({
      query: 'mutation($s: ID!){taskCreate(stack: $s, command: "ls"){id}}',
      variables: { s: await t.stack() },
    }),
  },
  // The matrix's stacks leave local preview off: WRITE reaches the setting's refusal.
  uploadLocalWorkspace: {
    need: "WRITE",
    ok: "CONFLICT",
    op: async (t) => ({
      query: "mutation($s: ID!){uploadLocalWorkspace(stack: $s){id}}",
      variables: { s: await t.stack() },
    }),
  },
  runProposeLocalWorkspace: {
    need: "WRITE",
    ok: "CONFLICT",
    op: async (t) => ({
      query:
        'mutation($s: ID!){runProposeLocalWorkspace(stack: $s, workspace: "lws_01jzzzzzzzzzzzzzzzzzzzzzzz", environmentVarsOverrides: []){id}}',
      variables: { s: await t.stack() },
    }),
  },
  stackCreate: {
    need: "WRITE",
    hidden: "NOT_FOUND",
    op: async (t) => ({
      query:
        "mutation($i: StackInput!){stackCreate(input: $i, manageState: false){id}}",
      variables: { i: RAW_INPUT(t.unique("mx-new"), t.space) },
    }),
  },
  stackUpdate: {
    need: "WRITE",
    op: async (t) => ({
      query:
        "mutation($id: ID!, $i: StackInput!){stackUpdate(id: $id, input: $i){id}}",
      variables: {
        id: await t.stack(),
        i: RAW_INPUT(t.unique("mx-upd"), t.space),
      },
    }),
  },
  stackMigrateVendor: notImplementedOnStack(
    "mutation($s: ID!){stackMigrateVendor(id: $s, targetVendor: Terraform){id}}",
  ),
  stackDelete: stackOp("mutation($s: ID!){stackDelete(id: $s){id}}"),
  stackLock: stackOp("mutation($s: ID!){stackLock(id: $s){id}}"),
  stackUnlock: stackOp(
    "mutation($s: ID!){stackUnlock(id: $s){id}}",
    "CONFLICT",
  ),
  stackEnable: stackOp("mutation($s: ID!){stackEnable(id: $s){id}}"),
  stackDisable: stackOp("mutation($s: ID!){stackDisable(id: $s){id}}"),
  stackSetCurrentCommit: stackOp(
    'mutation($s: ID!){stackSetCurrentCommit(id: $s, sha: "abcdef1"){id}}',
  ),
  // The matrix's stacks point at no reachable repository: a caller with the right gets
  // as far as asking git for the branch head, which is UNAVAILABLE.
  stackSyncCommit: stackOp(
    "mutation($s: ID!){stackSyncCommit(id: $s){id}}",
    "UNAVAILABLE",
  ),
  stackConfigAdd: stackOp(
    'mutation($s: ID!){stackConfigAdd(stack: $s, config: {id: "V", type: ENVIRONMENT_VARIABLE, value: "1", writeOnly: false}){id}}',
  ),
  stackConfigDelete: stackOp(
    'mutation($s: ID!){stackConfigDelete(stack: $s, id: "V"){id}}',
    "null",
  ),
  stateUploadUrl: {
    need: "KEY",
    op: async () => ({ query: "mutation{stateUploadUrl{url}}" }),
  },
  stateDownloadUrl: stackOp(
    "mutation($s: ID!){stateDownloadUrl(input: {stackId: $s}){url}}",
    "NOT_FOUND",
  ),
  stackIntegrationDriftDetectionCreate: notImplementedOnStack(
    'mutation($s: ID!){stackIntegrationDriftDetectionCreate(stack: $s, input: {ignoreState: false, reconcile: false, schedule: ["* * * * *"]}){schedule}}',
  ),
  stackIntegrationDriftDetectionUpdate: notImplementedOnStack(
    'mutation($s: ID!){stackIntegrationDriftDetectionUpdate(stack: $s, input: {ignoreState: false, reconcile: false, schedule: ["* * * * *"]}){schedule}}',
  ),
  stackIntegrationDriftDetectionDelete: notImplementedOnStack(
    "mutation($s: ID!){stackIntegrationDriftDetectionDelete(stack: $s){schedule}}",
  ),
  webhooksIntegrationCreate: notImplementedOnStack(
    'mutation($s: ID!){webhooksIntegrationCreate(stack: $s, input: {enabled: true, endpoint: "https://x"}){id}}',
  ),
  webhooksIntegrationUpdate: notImplementedOnStack(
    'mutation($s: ID!){webhooksIntegrationUpdate(stack: $s, id: "w", input: {enabled: true, endpoint: "https://x"}){id}}',
  ),
  webhooksIntegrationDelete: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async (t) => ({
      query:
        'mutation($s: ID!){webhooksIntegrationDelete(stack: $s, id: "w"){id}}',
      variables: { s: await t.stack() },
    }),
  },
  stackDependencyCreate: notImplementedOnStack(
    "mutation($s: ID!){stackDependencyCreate(input: {stackId: $s, dependsOnStackId: $s}){id}}",
  ),
  // Not served yet: NOT_IMPLEMENTED naming the feature, to anyone.
  stackDependencyDelete: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async () => ({
      query: 'mutation{stackDependencyDelete(id: "d"){id}}',
    }),
  },
  contextCreateV2: {
    need: "WRITE",
    op: async (t) => ({
      query: "mutation($i: ContextInput!){contextCreateV2(input: $i){id}}",
      variables: { i: { name: t.unique("mx-ctx"), space: t.space } },
    }),
  },
  contextUpdateV2: contextOp(
    'mutation($c: ID!){contextUpdateV2(id: $c, input: {name: "renamed"}){id}}',
  ),
  contextDelete: contextOp("mutation($c: ID!){contextDelete(id: $c){id}}"),
  contextAttach: {
    need: "WRITE",
    op: async (t) => ({
      query:
        "mutation($c: ID!, $s: ID!){contextAttach(id: $c, stack: $s, priority: 0){id}}",
      variables: { c: await t.context(), s: await t.stack() },
    }),
  },
  contextDetach: {
    need: "WRITE",
    op: async (t) => ({
      query: "mutation($a: ID!){contextDetach(id: $a){id}}",
      variables: { a: await t.attachment() },
    }),
  },
  contextConfigAdd: contextOp(
    'mutation($c: ID!){contextConfigAdd(context: $c, config: {id: "V", type: ENVIRONMENT_VARIABLE, value: "1", writeOnly: false}){id}}',
  ),
  contextConfigDelete: contextOp(
    'mutation($c: ID!){contextConfigDelete(context: $c, id: "V"){id}}',
    "null",
  ),
  policyCreatev2: {
    need: "ADMIN",
    op: async (t) => ({
      query: "mutation($i: PolicyCreateInput!){policyCreatev2(input: $i){id}}",
      variables: {
        i: {
          name: t.unique("mx-pol"),
          type: "PLAN",
          body: PLAN_BODY,
          space: t.space,
        },
      },
    }),
  },
  policyUpdatev2: policyOp(
    "mutation($p: ID!, $i: PolicyUpdateInput!){policyUpdatev2(id: $p, input: $i){id}}",
    { i: { name: "renamed", body: PLAN_BODY } },
  ),
  policyDelete: policyOp("mutation($p: ID!){policyDelete(id: $p){id}}"),
  policyAttach: {
    need: "ADMIN",
    op: async (t) => ({
      query: "mutation($p: ID!, $s: ID!){policyAttach(id: $p, stack: $s){id}}",
      variables: { p: await t.policy(), s: await t.stack() },
    }),
  },
  policyDetach: {
    need: "ADMIN",
    op: async (t) => ({
      query: "mutation($a: ID!){policyDetach(id: $a){id}}",
      variables: { a: await t.policyAttachment() },
    }),
  },
  policySimulate: {
    // Judged on the caller's own space (where a new policy would go): ADMIN keys only.
    need: "ADMIN",
    spaceless: true,
    op: async () => ({
      query: `mutation($b: String!){policySimulate(body: $b, input: "{}", type: PLAN)}`,
      variables: { b: PLAN_BODY },
    }),
  },
  workerPoolCreate: {
    need: "ADMIN",
    ok: "BAD_USER_INPUT",
    op: async (t) => ({
      query: `mutation($s: ID!){workerPoolCreate(name: "p", certificateSigningRequest: "bad", space: $s){id}}`,
      variables: { s: t.space },
    }),
  },
  workerPoolUpdate: poolOp(
    'mutation($p: ID!){workerPoolUpdate(id: $p, name: "renamed"){id}}',
  ),
  workerPoolReset: poolOp(
    'mutation($p: ID!){workerPoolReset(id: $p, certificateSigningRequest: "bad"){id}}',
    "BAD_USER_INPUT",
  ),
  workerPoolDelete: poolOp("mutation($p: ID!){workerPoolDelete(id: $p){id}}"),
  workerPoolCycle: {
    need: "WRITE",
    op: async (t) => ({
      query: "mutation($p: ID!){workerPoolCycle(id: $p)}",
      variables: { p: await t.pool() },
    }),
  },
  workerDrainSet: {
    need: "WRITE",
    op: async (t) => {
      const w = await t.worker();
      return {
        query:
          "mutation($p: ID!, $w: ID!){workerDrainSet(workerPool: $p, id: $w, drain: true){id}}",
        variables: { p: w.pool, w: w.worker },
      };
    },
  },
  spaceCreate: {
    need: "ADMIN",
    op: async (t) => ({
      query: "mutation($i: SpaceInput!){spaceCreate(input: $i){id}}",
      variables: {
        i: {
          name: t.unique("mx-space"),
          parentSpace: t.space,
          inheritEntities: false,
          description: "",
        },
      },
    }),
  },
  spaceUpdate: {
    need: "ADMIN",
    op: async (t) => {
      const id = await t.childSpace();
      return {
        query:
          "mutation($s: ID!, $i: SpaceInput!){spaceUpdate(space: $s, input: $i){id}}",
        variables: {
          s: id,
          i: {
            name: "renamed",
            parentSpace: t.space,
            inheritEntities: false,
            description: "",
          },
        },
      };
    },
  },
  spaceDelete: {
    need: "ADMIN",
    op: async (t) => ({
      query: "mutation($s: ID!){spaceDelete(space: $s){id}}",
      variables: { s: await t.childSpace() },
    }),
  },
  // Identity administration: root admins only (spacelift-reference §1.8). Each checks
  // the session before looking anything up, so an unknown id is FORBIDDEN too.
  apiKeyCreate: rootAdmin(async (t) => ({
    query: "mutation($i: ApiKeyInput!){apiKeyCreate(input: $i){id}}",
    variables: { i: { name: t.unique("mx-key"), admin: false } },
  })),
  apiKeyUpdate: rootAdmin(async (t) => ({
    query: 'mutation($k: ID!){apiKeyUpdate(id: $k, input: {name: "x"}){id}}',
    variables: { k: await t.apiKey() },
  })),
  apiKeyDelete: rootAdmin(async (t) => ({
    query: "mutation($k: ID!){apiKeyDelete(id: $k){id}}",
    variables: { k: await t.apiKey() },
  })),
  roleCreate: rootAdmin(async (t) => ({
    query: "mutation($i: RoleInput!){roleCreate(input: $i){id}}",
    variables: { i: { name: t.unique("mx-role"), actions: ["SPACE_READ"] } },
  })),
  roleUpdate: rootAdmin(async () => ({
    query: 'mutation{roleUpdate(id: "space-reader", input: {name: "x"}){id}}',
  })),
  roleDelete: rootAdmin(async () => ({
    query: 'mutation{roleDelete(id: "space-reader"){id}}',
  })),
  apiKeyRoleBindingCreate: rootAdmin(async (t) => ({
    query:
      "mutation($i: ApiKeyRoleBindingInput!){apiKeyRoleBindingCreate(input: $i){id}}",
    variables: {
      i: {
        apiKeyID: await t.apiKey(),
        roleID: "space-admin",
        spaceID: t.space,
      },
    },
  })),
  apiKeyRoleBindingDelete: rootAdmin(async () => ({
    query: 'mutation{apiKeyRoleBindingDelete(id: "rb_nope"){id}}',
  })),
  stackRoleBindingCreate: rootAdmin(async (t) => ({
    query:
      "mutation($i: StackRoleBindingInput!){stackRoleBindingCreate(input: $i){id}}",
    variables: {
      i: { stackID: await t.stack(), roleID: "space-admin", spaceID: t.space },
    },
  })),
  stackRoleBindingDelete: rootAdmin(async () => ({
    query: 'mutation{stackRoleBindingDelete(id: "rb_nope"){id}}',
  })),
  versionCreate: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async () => ({ query: 'mutation{versionCreate(module: "m"){id}}' }),
  },
  versionDelete: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async () => ({
      query: 'mutation{versionDelete(id: "v", module: "m"){id}}',
    }),
  },
  versionProposeLocalWorkspace: {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async () => ({
      query:
        'mutation{versionProposeLocalWorkspace(module: "m", workspace: "w"){id}}',
    }),
  },
  stackyardWorkerPoolCreate: {
    need: "ADMIN",
    op: async (t) => ({
      query: `mutation($s: ID!){stackyardWorkerPoolCreate(name: "p", space: $s){token}}`,
      variables: { s: t.space },
    }),
  },
  stackyardStateRollback: stackOp(
    'mutation($s: ID!){stackyardStateRollback(stack: $s, version: "1"){id}}',
    "CONFLICT",
    "ADMIN",
  ),
  stackyardStateVersionDownloadUrl: stackOp(
    'mutation($s: ID!){stackyardStateVersionDownloadUrl(stack: $s, version: "1"){url}}',
    "NOT_FOUND",
  ),
  stackyardVcsIntegrationCreate: {
    need: "ADMIN",
    op: async (t) => ({
      query:
        "mutation($i: StackyardVcsIntegrationCreateInput!){stackyardVcsIntegrationCreate(input: $i){id}}",
      variables: {
        i: {
          name: t.unique("mx-vcs"),
          provider: "RAW_GIT",
          space: t.space,
        },
      },
    }),
  },
  stackyardVcsIntegrationUpdate: {
    need: "ADMIN",
    op: async (t) => ({
      query:
        'mutation($v: ID!){stackyardVcsIntegrationUpdate(id: $v, input: {description: "d"}){id}}',
      variables: { v: await t.integration() },
    }),
  },
  stackyardVcsIntegrationDelete: {
    need: "ADMIN",
    op: async (t) => ({
      query: "mutation($v: ID!){stackyardVcsIntegrationDelete(id: $v){id}}",
      variables: { v: await t.integration() },
    }),
  },
};

function stackOp(query: string, ok?: Outcome, need: Need = "WRITE"): MatrixRow {
  return {
    need,
    ok,
    op: async (t) => ({ query, variables: { s: await t.stack() } }),
  };
}

function contextOp(query: string, ok?: Outcome): MatrixRow {
  return {
    need: "WRITE",
    ok,
    op: async (t) => ({ query, variables: { c: await t.context() } }),
  };
}

function policyOp(
  query: string,
  extra: Record<string, unknown> = {},
): MatrixRow {
  return {
    need: "ADMIN",
    op: async (t) => ({
      query,
      variables: { p: await t.policy(), ...extra },
    }),
  };
}

function poolOp(query: string, ok?: Outcome): MatrixRow {
  return {
    need: "ADMIN",
    ok,
    op: async (t) => ({ query, variables: { p: await t.pool() } }),
  };
}

/** A Spacelift operation Stackyard does not serve yet: NOT_IMPLEMENTED to every session. */
function notImplementedOnStack(query: string): MatrixRow {
  return {
    need: "KEY",
    ok: "NOT_IMPLEMENTED",
    anonymous: "NOT_IMPLEMENTED",
    op: async (t) => ({ query, variables: { s: await t.stack() } }),
  };
}

function runMutations(): Record<string, MatrixRow> {
  const onRun = (
    query: string,
    opts: { state?: string; ok?: Outcome; need?: Need } = {},
  ): MatrixRow => ({
    need: opts.need ?? "WRITE",
    ok: opts.ok,
    op: async (t) => {
      const r = await t.run(opts.state);
      return { query, variables: { s: r.stack, r: r.run } };
    },
  });
  return {
    // No worker pool exists in the test: a trigger that passes the checks conflicts.
    runTrigger: {
      need: "WRITE",
      ok: "CONFLICT",
      op: async (t) => ({
        query: "mutation($s: ID!){runTrigger(stack: $s){id}}",
        variables: { s: await t.stack() },
      }),
    },
    runConfirm: onRun(
      "mutation($s: ID!, $r: ID){runConfirm(stack: $s, run: $r){id}}",
      { state: "UNCONFIRMED" },
    ),
    runDiscard: onRun(
      "mutation($s: ID!, $r: ID){runDiscard(stack: $s, run: $r){id}}",
      { state: "UNCONFIRMED" },
    ),
    runRetry: onRun(
      "mutation($s: ID!, $r: ID!){runRetry(stack: $s, run: $r){id}}",
      { state: "FAILED", ok: "CONFLICT" },
    ),
    runCancel: onRun(
      "mutation($s: ID!, $r: ID!){runCancel(stack: $s, run: $r){id}}",
      { state: "QUEUED" },
    ),
    runStop: onRun(
      "mutation($s: ID!, $r: ID!){runStop(stack: $s, run: $r){id}}",
      { state: "PLANNING" },
    ),
    runPromote: onRun(
      "mutation($s: ID!, $r: ID!){runPromote(stack: $s, run: $r){id}}",
      { ok: "BAD_USER_INPUT" },
    ),
    runPrioritizeSet: onRun(
      "mutation($s: ID!, $r: ID!){runPrioritizeSet(stack: $s, run: $r, prioritize: true){id}}",
      { state: "QUEUED" },
    ),
    runReview: onRun(
      "mutation($s: ID!, $r: ID){runReview(stack: $s, run: $r, decision: APPROVE){id}}",
      { state: "UNCONFIRMED" },
    ),
    runTargetedReplan: onRun(
      'mutation($s: ID!, $r: ID!){runTargetedReplan(stack: $s, run: $r, targets: ["null_resource.a"]){id}}',
      { state: "UNCONFIRMED" },
    ),
  };
}
