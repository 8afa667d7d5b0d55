import { createHash, generateKeyPairSync } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  insertSpace,
  providerStackInput,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { registerGraphQL } from "../../api/graphql.ts";
import { unservedResolvers } from "../../api/unserved-resolvers.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
  type AuthService,
} from "../auth/index.ts";
import {
  contextResolvers,
  createStacksModule,
  spaceResolvers,
  stackResolvers,
} from "./index.ts";

/**
 * The exact minified texts spacectl and the Terraform provider put on the wire
 * (graphql-compat.md §0.1: sorted variable declarations, `,`-separated fields,
 * inlined fragments), against a real Fastify + mercurius app.
 */

let t: TestDatabase;
let app: FastifyInstance;
let auth: AuthService;
let adminToken: string;
const log = pino({ level: "silent" });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are probed ad hoc, as JSON
type Json = any;
type GqlResponse = {
  data?: Record<string, Json> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

async function gql(
  query: string,
  variables?: Record<string, unknown>,
  token: string | null = adminToken,
): Promise<GqlResponse> {
  const res = await app.inject({
    method: "POST",
    url: "/graphql",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    payload: variables ? { query, variables } : { query },
  });
  expect(res.statusCode).toBe(200);
  return res.json() as GqlResponse;
}

async function keyToken(
  spaceId: string,
  level: "READ" | "WRITE" | "ADMIN",
): Promise<string> {
  const key = await auth.createApiKey({
    name: `${level}-${spaceId}`,
    admin: false,
    spaceId,
  });
  await t.db
    .updateTable("api_keys")
    .set({ access_level: level })
    .where("id", "=", key.id)
    .execute();
  return (await auth.exchangeApiKey(key.id, key.secret)).token;
}

const PROVIDER_STACK =
  "id,administrative,afterApply,afterDestroy,afterInit,afterPerform,afterPlan,afterRun,autodeploy,autoretry,beforeApply,beforeDestroy,beforeInit,beforePerform,beforePlan,branch,deleting,description,isDisabled,githubActionDeploy,integrations{aws{assumedRoleArn,assumeRolePolicyStatement,externalID,generateCredentialsInWorker,durationSeconds,region},driftDetection{ignoreState,reconcile,schedule,timezone},gcp{serviceAccountEmail,tokenScopes},webhooks{id,enabled,endpoint,secret,retryOnFailure}},labels,localPreviewEnabled,enableWellKnownSecretMasking,enableSensitiveOutputUpload,managesStateFile,name,namespace,projectRoot,additionalProjectGlobs,gitSparseCheckoutPaths,protectFromDeletion,provider,repository,repositoryURL,runnerImage,space,spaceDetails{id,description,name,inheritEntities,parentSpace,labels},terraformVersion,vcsIntegration{id,isDefault},vendorConfig{__typename,... on StackConfigVendorAnsible{playbook},... on StackConfigVendorCloudFormation{entryTemplateFile,region,stackName,templateBucket},... on StackConfigVendorKubernetes{namespace,kubectlVersion,kubernetesWorkflowTool},... on StackConfigVendorOpenTofu{concise,externalStateAccessEnabled,useSmartSanitization,version,openTofuWorkflowTool: workflowTool,workspace},... on StackConfigVendorPulumi{loginURL,stackName},... on StackConfigVendorTerraform{useSmartSanitization,version,workflowTool,workspace,externalStateAccessEnabled},... on StackConfigVendorTerragrunt{terraformVersion,terragruntVersion,useRunAll,useSmartSanitization,useStateManagement,prefixResourceNamesWithModuleName,skipReplanWhenRunAll,skipReplan,tool}},workerPool{id}";
const STACK_LIST_ITEM =
  "id,administrative,autodeploy,autoretry,blocker{id},afterApply,beforeApply,afterInit,beforeInit,afterPlan,beforePlan,afterPerform,beforePerform,afterDestroy,beforeDestroy,branch,canWrite,createdAt,deleted,deleting,description,labels,localPreviewEnabled,lockedBy,managesStateFile,name,namespace,projectRoot,provider,repository,runnerImage,starred,state,stateSetAt,terraformVersion,spaceDetails{id,name,description,parentSpace},trackedCommit{authorLogin,authorName,hash,message,timestamp,url},trackedCommitSetBy,vendorConfig{__typename},workerPool{id,name}";
const PROVIDER_CONTEXT =
  "id,description,labels,name,space,hooks{afterApply,afterDestroy,afterInit,afterPerform,afterPlan,afterRun,beforeApply,beforeDestroy,beforeInit,beforePerform,beforePlan}";
const PROVIDER_CONFIG_ELEMENT = "id,checksum,type,value,writeOnly,description";
const PROVIDER_SPACE = "id,description,name,inheritEntities,parentSpace,labels";
const PAGE_INFO = "pageInfo{endCursor,hasNextPage,hasPreviousPage}";
const ENV_ELEMENT = "id,checksum,createdAt,runtime,type,value,writeOnly";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const allHooksEmpty = {
  afterApply: [],
  afterDestroy: [],
  afterInit: [],
  afterPerform: [],
  afterPlan: [],
  afterRun: [],
  beforeApply: [],
  beforeDestroy: [],
  beforeInit: [],
  beforePerform: [],
  beforePlan: [],
};

beforeAll(async () => {
  t = await createTestDatabase();
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signer = createTokenSigner({
    privateKey,
    issuer: "http://stackyard.test",
    audience: "http://stackyard.test",
  });
  auth = createAuthService({
    db: t.db,
    signer,
    admin: { username: "admin", password: "pw" },
  });
  adminToken = (await auth.adminLogin("admin", "pw")).token;
  const m = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock: () => new Date("2025-03-01T12:00:00Z"),
  });
  app = Fastify();
  await registerGraphQL(app, {
    auth,
    log,
    resolvers: [
      authResolvers(auth),
      stackResolvers(m.stacks),
      contextResolvers(m.contexts),
      spaceResolvers(m.spaces),
      unservedResolvers(),
    ],
  });
  await app.ready();
  await insertSpace(t.db, "team-a");
  await insertSpace(t.db, "team-b");
  await m.stacks.createStack(
    { kind: "user", id: "admin:admin", name: "admin", admin: true },
    providerStackInput({
      name: "infra-prod",
      repository: "org/infra",
      projectRoot: "envs/prod",
      labels: ["prod"],
    }),
  );
});
afterAll(async () => {
  await app?.close();
  await t?.destroy();
});

describe("spacectl", () => {
  it("S05 resolves a stack by id, echoing the id, and null for unknown ids", async () => {
    const q = "query($id:ID!){stack(id: $id){id,name}}";
    expect(await gql(q, { id: "infra-prod" })).toEqual({
      data: { stack: { id: "infra-prod", name: "infra-prod" } },
    });
    expect(await gql(q, { id: "INFRA-PROD" })).toEqual({
      data: { stack: null },
    });
    expect(await gql(q, { id: "nope" })).toEqual({ data: { stack: null } });
  });

  it("answers the non-null lists of entities, dependencies and module versions", async () => {
    const q =
      "query($id:ID!){stack(id: $id){id,entities{id,address},moduleVersionsUsed{id,number},dependsOn{id},isDependedOnBy{id}}}";
    expect(await gql(q, { id: "infra-prod" })).toEqual({
      data: {
        stack: {
          id: "infra-prod",
          entities: [],
          moduleVersionsUsed: [],
          dependsOn: [],
          isDependedOnBy: [],
        },
      },
    });
  });

  it("answers unauthorized without a session", async () => {
    const res = await gql(
      "query($id:ID!){stack(id: $id){id,name}}",
      { id: "infra-prod" },
      null,
    );
    expect(res.errors?.[0]?.message).toBe("unauthorized");
  });

  it("S07 finds the stack of a git directory", async () => {
    const q = `query($input:SearchInput!){searchStacks(input: $input){edges{node{id,name}},${PAGE_INFO}}}`;
    const nulls = {
      booleanEquals: null,
      enumEquals: null,
      stringMatches: null,
    };
    const res = await gql(q, {
      input: {
        first: 50,
        after: null,
        fullTextSearch: null,
        orderBy: null,
        predicates: [
          {
            field: "repository",
            constraint: { ...nulls, stringMatches: ["org/infra"] },
            exclude: false,
          },
          {
            field: "projectRoot",
            constraint: {
              ...nulls,
              stringMatches: ["envs/prod", "envs/prod/"],
            },
            exclude: false,
          },
        ],
      },
    });
    expect(res.data?.searchStacks.edges).toEqual([
      { node: { id: "infra-prod", name: "infra-prod" } },
    ]);
    expect(res.data?.searchStacks.pageInfo).toMatchObject({
      hasNextPage: false,
      hasPreviousPage: false,
    });
  });

  it("S08 lists stacks page by page with the full list item", async () => {
    for (const name of ["page-1", "page-2", "page-3"]) {
      await gql(
        `mutation($input:StackInput!$manageState:Boolean!$slug:String$stackObjectID:String){stackCreate(input: $input, manageState: $manageState, stackObjectID: $stackObjectID, slug: $slug){id}}`,
        {
          input: providerStackInput({ name }),
          manageState: true,
          slug: null,
          stackObjectID: null,
        },
      );
    }
    const q = `query($input:SearchInput!){searchStacks(input: $input){edges{node{${STACK_LIST_ITEM}}},${PAGE_INFO}}}`;
    const first = await gql(q, {
      input: {
        first: 2,
        after: null,
        fullTextSearch: "page",
        predicates: null,
        orderBy: null,
      },
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.searchStacks.edges.map((e: Json) => e.node.id)).toEqual([
      "page-1",
      "page-2",
    ]);
    expect(first.data?.searchStacks.pageInfo.hasNextPage).toBe(true);
    expect(first.data?.searchStacks.edges[0].node).toMatchObject({
      canWrite: true,
      state: "NONE",
      stateSetAt: null,
      blocker: null,
      lockedBy: null,
      starred: false,
      createdAt: 1740830400,
      spaceDetails: { id: "root", name: "root", parentSpace: null },
      vendorConfig: { __typename: "StackConfigVendorTerraform" },
      workerPool: null,
      trackedCommit: null,
    });
    const second = await gql(q, {
      input: {
        first: 2,
        after: first.data?.searchStacks.pageInfo.endCursor,
        fullTextSearch: "page",
        predicates: null,
        orderBy: null,
      },
    });
    expect(second.data?.searchStacks.edges.map((e: Json) => e.node.id)).toEqual(
      ["page-3"],
    );
    expect(second.data?.searchStacks.pageInfo).toMatchObject({
      hasNextPage: false,
      hasPreviousPage: true,
    });
  });

  it("S23–S26 set, mount, list and delete environment entries", async () => {
    const setvar =
      "mutation($config:ConfigInput!$stack:ID!){stackConfigAdd(stack: $stack, config: $config){id,writeOnly,value}}";
    expect(
      await gql(setvar, {
        config: {
          id: "REGION",
          type: "ENVIRONMENT_VARIABLE",
          value: "eu-west-1",
          writeOnly: false,
        },
        stack: "infra-prod",
      }),
    ).toEqual({
      data: {
        stackConfigAdd: { id: "REGION", writeOnly: false, value: "eu-west-1" },
      },
    });
    expect(
      await gql(setvar, {
        config: {
          id: "TOKEN",
          type: "ENVIRONMENT_VARIABLE",
          value: "s3cret",
          writeOnly: true,
        },
        stack: "infra-prod",
      }),
    ).toEqual({
      data: { stackConfigAdd: { id: "TOKEN", writeOnly: true, value: null } },
    });

    const mount =
      "mutation($config:ConfigInput!$stack:ID!){stackConfigAdd(stack: $stack, config: $config){id,writeOnly,type}}";
    const file = Buffer.from("[default]\n").toString("base64");
    expect(
      await gql(mount, {
        config: {
          id: "aws/config",
          type: "FILE_MOUNT",
          value: file,
          writeOnly: false,
        },
        stack: "infra-prod",
      }),
    ).toEqual({
      data: {
        stackConfigAdd: {
          id: "aws/config",
          writeOnly: false,
          type: "FILE_MOUNT",
        },
      },
    });

    const bad = await gql(setvar, {
      config: {
        id: "1BAD",
        type: "ENVIRONMENT_VARIABLE",
        value: "x",
        writeOnly: false,
      },
      stack: "infra-prod",
    });
    expect(bad.errors?.[0]?.message).toMatch(
      /^stackConfigAdd config.id: "1BAD" is not a valid environment variable name/,
    );
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");

    const list = `query($stack:ID!){stack(id: $stack){runtimeConfig{context{id,contextName},element{${ENV_ELEMENT}}},attachedContexts{contextId,contextName,priority,isAutoattached,config{${ENV_ELEMENT}}}}}`;
    const listed = await gql(list, { stack: "infra-prod" });
    expect(listed.errors).toBeUndefined();
    expect(listed.data?.stack.runtimeConfig).toEqual([
      {
        context: null,
        element: {
          id: "REGION",
          checksum: sha256("eu-west-1"),
          createdAt: 1740830400,
          runtime: false,
          type: "ENVIRONMENT_VARIABLE",
          value: "eu-west-1",
          writeOnly: false,
        },
      },
      {
        context: null,
        element: {
          id: "TOKEN",
          checksum: sha256("s3cret"),
          createdAt: 1740830400,
          runtime: false,
          type: "ENVIRONMENT_VARIABLE",
          value: null,
          writeOnly: true,
        },
      },
      {
        context: null,
        element: {
          id: "aws/config",
          checksum: sha256(file),
          createdAt: 1740830400,
          runtime: false,
          type: "FILE_MOUNT",
          value: file,
          writeOnly: false,
        },
      },
    ]);
    expect(listed.data?.stack.attachedContexts).toEqual([]);

    const del =
      "mutation($id:ID!$stack:ID!){stackConfigDelete(stack: $stack, id: $id){id}}";
    expect(await gql(del, { id: "REGION", stack: "infra-prod" })).toEqual({
      data: { stackConfigDelete: { id: "REGION" } },
    });
    expect(await gql(del, { id: "REGION", stack: "infra-prod" })).toEqual({
      data: { stackConfigDelete: null },
    });
  });

  it("S27–S31 lock, unlock, enable, disable, set the current commit", async () => {
    expect(
      await gql(
        "mutation($note:String!$stack:ID!){stackLock(id: $stack, note: $note){id}}",
        { note: "", stack: "infra-prod" },
      ),
    ).toEqual({
      data: { stackLock: { id: "infra-prod" } },
    });
    const item = await gql("query($id:ID!){stack(id: $id){lockedBy}}", {
      id: "infra-prod",
    });
    expect(item.data?.stack.lockedBy).toBe("admin");
    expect(
      await gql("mutation($stack:ID!){stackUnlock(id: $stack){id}}", {
        stack: "infra-prod",
      }),
    ).toEqual({
      data: { stackUnlock: { id: "infra-prod" } },
    });
    expect(
      await gql(
        "mutation($stack:ID!){stackDisable(id: $stack){id,isDisabled}}",
        { stack: "infra-prod" },
      ),
    ).toEqual({
      data: { stackDisable: { id: "infra-prod", isDisabled: true } },
    });
    expect(
      await gql(
        "mutation($stack:ID!){stackEnable(id: $stack){id,isDisabled}}",
        { stack: "infra-prod" },
      ),
    ).toEqual({
      data: { stackEnable: { id: "infra-prod", isDisabled: false } },
    });
    const sha = "0123456789abcdef0123456789abcdef01234567";
    expect(
      await gql(
        "mutation($sha:String!$stack:ID!){stackSetCurrentCommit(id: $stack, sha: $sha){trackedCommit{hash,message}}}",
        { sha, stack: "infra-prod" },
      ),
    ).toEqual({
      data: {
        stackSetCurrentCommit: { trackedCommit: { hash: sha, message: "" } },
      },
    });
  });

  it("S37 deletes a stack", async () => {
    await gql(
      "mutation($input:StackInput!$manageState:Boolean!$slug:String$stackObjectID:String){stackCreate(input: $input, manageState: $manageState, stackObjectID: $stackObjectID, slug: $slug){id}}",
      {
        input: providerStackInput({ name: "doomed" }),
        manageState: true,
        slug: null,
        stackObjectID: null,
      },
    );
    expect(
      await gql(
        "mutation($destroyResources:Boolean!$id:ID!){stackDelete(id: $id, destroyResources: $destroyResources){id}}",
        {
          destroyResources: false,
          id: "doomed",
        },
      ),
    ).toEqual({ data: { stackDelete: { id: "doomed" } } });
  });
});

describe("Terraform provider", () => {
  const create = `mutation($input:StackInput!$manageState:Boolean!$slug:String$stackObjectID:String){stackCreate(input: $input, manageState: $manageState, stackObjectID: $stackObjectID, slug: $slug){${PROVIDER_STACK}}}`;

  it("P02/P03/P05/P06 create, read, update and delete a stack with explicit nulls", async () => {
    const input = providerStackInput({
      name: "Provider Stack",
      space: "team-a",
      labels: ["a", "b"],
      vendorConfig: {
        ansible: null,
        cloudFormation: null,
        kubernetes: null,
        opentofu: null,
        pulumi: null,
        terraform: {
          useSmartSanitization: true,
          version: "1.6.2",
          workflowTool: "TERRAFORM_FOSS",
          workspace: null,
          externalStateAccessEnabled: false,
        },
        terragrunt: null,
      },
    });
    const created = await gql(create, {
      input,
      manageState: true,
      slug: null,
      stackObjectID: null,
    });
    expect(created.errors).toBeUndefined();
    const s = created.data?.stackCreate;
    expect(s).toMatchObject({
      id: "provider-stack",
      name: "Provider Stack",
      space: "team-a",
      labels: ["a", "b"],
      description: null,
      deleting: false,
      managesStateFile: true,
      enableSensitiveOutputUpload: true,
      githubActionDeploy: true,
      provider: "GITHUB",
      spaceDetails: {
        id: "team-a",
        name: "team-a",
        parentSpace: "root",
        inheritEntities: false,
        labels: [],
        description: "",
      },
      integrations: {
        aws: {
          assumedRoleArn: null,
          assumeRolePolicyStatement: "",
          externalID: null,
          generateCredentialsInWorker: false,
          durationSeconds: null,
          region: null,
        },
        driftDetection: null,
        gcp: { serviceAccountEmail: null, tokenScopes: [] },
        webhooks: [],
      },
      vendorConfig: {
        __typename: "StackConfigVendorTerraform",
        useSmartSanitization: true,
        version: "1.6.2",
        workflowTool: "TERRAFORM_FOSS",
        workspace: null,
        externalStateAccessEnabled: false,
      },
      vcsIntegration: null,
      workerPool: null,
      ...allHooksEmpty,
    });

    const read = await gql(
      `query($id:ID!){stack(id: $id){${PROVIDER_STACK}}}`,
      { id: "provider-stack" },
    );
    expect(read.data?.stack).toEqual(s);

    const updated = await gql(
      `mutation($id:ID!$input:StackInput!){stackUpdate(id: $id, input: $input){${PROVIDER_STACK}}}`,
      {
        id: "provider-stack",
        input: {
          ...input,
          description: "now described",
          beforeInit: ["echo init"],
          vendorConfig: {
            ...input.vendorConfig,
            terraform: {
              useSmartSanitization: false,
              version: null,
              workflowTool: "OPEN_TOFU",
              workspace: "blue",
              externalStateAccessEnabled: true,
            },
          },
        },
      },
    );
    expect(updated.errors).toBeUndefined();
    expect(updated.data?.stackUpdate).toMatchObject({
      description: "now described",
      beforeInit: ["echo init"],
      // Sent as `terraform { workflowTool: OPEN_TOFU }`, read back in the same form.
      vendorConfig: {
        __typename: "StackConfigVendorTerraform",
        workflowTool: "OPEN_TOFU",
        version: null,
        workspace: "blue",
        externalStateAccessEnabled: true,
        useSmartSanitization: false,
      },
    });

    const bad = await gql(create, {
      input: { ...input, branch: "" },
      manageState: true,
      slug: null,
      stackObjectID: null,
    });
    expect(bad.errors?.[0]).toMatchObject({
      message: "stackCreate input.branch: must not be empty",
      extensions: { code: "BAD_USER_INPUT" },
    });

    const deleted = await gql(
      `mutation($id:ID!){stackDelete(id: $id){${PROVIDER_STACK}}}`,
      { id: "provider-stack" },
    );
    expect(deleted.data?.stackDelete).toMatchObject({
      id: "provider-stack",
      deleting: false,
    });
    expect(
      (
        await gql(`query($id:ID!){stack(id: $id){${PROVIDER_STACK}}}`, {
          id: "provider-stack",
        })
      ).data,
    ).toEqual({ stack: null });
  });

  it("P08–P14 manage contexts and attachments", async () => {
    const hooks = { ...allHooksEmpty, beforePlan: ["echo plan"] };
    const created = await gql(
      `mutation($input:ContextInput!){contextCreateV2(input: $input){${PROVIDER_CONTEXT}}}`,
      {
        input: {
          name: "Shared Env",
          description: null,
          hooks,
          labels: ["autoattach:prod"],
          space: "root",
        },
      },
    );
    expect(created).toEqual({
      data: {
        contextCreateV2: {
          id: "shared-env",
          description: null,
          labels: ["autoattach:prod"],
          name: "Shared Env",
          space: "root",
          hooks,
        },
      },
    });
    const updated = await gql(
      `mutation($id:ID!$input:ContextInput!){contextUpdateV2(id: $id, input: $input){${PROVIDER_CONTEXT}}}`,
      {
        id: "shared-env",
        input: {
          name: "Shared Env",
          description: "d",
          hooks: allHooksEmpty,
          labels: [],
          space: "root",
        },
      },
    );
    expect(updated.data?.contextUpdateV2).toMatchObject({
      description: "d",
      labels: [],
      hooks: allHooksEmpty,
    });
    expect(
      (
        await gql(`query($id:ID!){context(id: $id){${PROVIDER_CONTEXT}}}`, {
          id: "shared-env",
        })
      ).data?.context.id,
    ).toBe("shared-env");
    // Stackyard extension for the web UI's contexts list.
    expect(
      (await gql("{stackyardContexts{id,name}}")).data?.stackyardContexts,
    ).toContainEqual({ id: "shared-env", name: "Shared Env" });

    const attached = await gql(
      "mutation($id:ID!$priority:Int!$stack:ID!){contextAttach(id: $id, stack: $stack, priority: $priority){id,stackId,isModule,priority}}",
      {
        id: "shared-env",
        priority: 2,
        stack: "infra-prod",
      },
    );
    const attachmentId = attached.data?.contextAttach.id as string;
    expect(attached.data?.contextAttach).toEqual({
      id: attachmentId,
      stackId: "infra-prod",
      isModule: false,
      priority: 2,
    });
    const fetch =
      "query($context:ID!$project:ID!){context(id: $context){attachedStack(id: $project){id,stackId,isModule,priority}}}";
    expect(
      (await gql(fetch, { context: "shared-env", project: "infra-prod" })).data
        ?.context.attachedStack.id,
    ).toBe(attachmentId);

    // The attachment shows in spacectl's environment listing.
    await gql(
      `mutation($config:ConfigInput!$context:ID!){contextConfigAdd(context: $context, config: $config){${PROVIDER_CONFIG_ELEMENT}}}`,
      {
        config: {
          id: "FROM_CTX",
          type: "ENVIRONMENT_VARIABLE",
          value: "1",
          writeOnly: false,
          description: null,
        },
        context: "shared-env",
      },
    );
    const env = await gql(
      `query($stack:ID!){stack(id: $stack){runtimeConfig{context{id,contextName},element{id,value}}}}`,
      { stack: "infra-prod" },
    );
    expect(env.data?.stack.runtimeConfig).toContainEqual({
      context: { id: attachmentId, contextName: "Shared Env" },
      element: { id: "FROM_CTX", value: "1" },
    });

    expect(
      await gql(
        "mutation($id:ID!){contextDetach(id: $id){id,stackId,isModule,priority}}",
        { id: attachmentId },
      ),
    ).toEqual({
      data: {
        contextDetach: {
          id: attachmentId,
          stackId: "infra-prod",
          isModule: false,
          priority: 2,
        },
      },
    });
    expect(
      (await gql(fetch, { context: "shared-env", project: "infra-prod" })).data
        ?.context.attachedStack,
    ).toBeNull();

    const deleted = await gql(
      `mutation($id:ID!){contextDelete(id: $id){${PROVIDER_CONTEXT}}}`,
      { id: "shared-env" },
    );
    expect(deleted.data?.contextDelete.id).toBe("shared-env");
    const gone = await gql(
      `mutation($id:ID!){contextDelete(id: $id){${PROVIDER_CONTEXT}}}`,
      { id: "shared-env" },
    );
    expect(gone.errors?.[0]?.message).toContain("not found");
  });

  it("P16–P22 manage env vars and mounted files with checksums of the value as sent", async () => {
    await gql(
      `mutation($input:ContextInput!){contextCreateV2(input: $input){id}}`,
      {
        input: {
          name: "secrets",
          description: null,
          hooks: null,
          labels: null,
          space: null,
        },
      },
    );
    const addCtx = `mutation($config:ConfigInput!$context:ID!){contextConfigAdd(context: $context, config: $config){${PROVIDER_CONFIG_ELEMENT}}}`;
    expect(
      await gql(addCtx, {
        config: {
          id: "DB_PASSWORD",
          type: "ENVIRONMENT_VARIABLE",
          value: "pw",
          writeOnly: true,
          description: "db",
        },
        context: "secrets",
      }),
    ).toEqual({
      data: {
        contextConfigAdd: {
          id: "DB_PASSWORD",
          checksum: sha256("pw"),
          type: "ENVIRONMENT_VARIABLE",
          value: null,
          writeOnly: true,
          description: "db",
        },
      },
    });
    const readCtx = `query($context:ID!$id:ID!){context(id: $context){configElement(id: $id){${PROVIDER_CONFIG_ELEMENT}}}}`;
    expect(
      (await gql(readCtx, { context: "secrets", id: "DB_PASSWORD" })).data
        ?.context.configElement.value,
    ).toBeNull();
    expect(
      (await gql(readCtx, { context: "secrets", id: "MISSING" })).data?.context
        .configElement,
    ).toBeNull();

    const file = Buffer.from("secret file").toString("base64");
    const addStack = `mutation($config:ConfigInput!$stack:ID!){stackConfigAdd(stack: $stack, config: $config){${PROVIDER_CONFIG_ELEMENT}}}`;
    expect(
      (
        await gql(addStack, {
          config: {
            id: "keys/id_rsa",
            type: "FILE_MOUNT",
            value: file,
            writeOnly: true,
            description: null,
          },
          stack: "infra-prod",
        })
      ).data?.stackConfigAdd,
    ).toEqual({
      id: "keys/id_rsa",
      checksum: sha256(file),
      type: "FILE_MOUNT",
      value: null,
      writeOnly: true,
      description: null,
    });
    const readStack = `query($id:ID!$stack:ID!){stack(id: $stack){configElement(id: $id){${PROVIDER_CONFIG_ELEMENT}}}}`;
    expect(
      (await gql(readStack, { id: "keys/id_rsa", stack: "infra-prod" })).data
        ?.stack.configElement.checksum,
    ).toBe(sha256(file));

    const delCtx = `mutation($context:ID!$id:ID!){contextConfigDelete(context: $context, id: $id){${PROVIDER_CONFIG_ELEMENT}}}`;
    expect(
      (await gql(delCtx, { context: "secrets", id: "DB_PASSWORD" })).data
        ?.contextConfigDelete.id,
    ).toBe("DB_PASSWORD");
    const delStack = `mutation($id:ID!$stack:ID!){stackConfigDelete(stack: $stack, id: $id){${PROVIDER_CONFIG_ELEMENT}}}`;
    expect(
      (await gql(delStack, { id: "keys/id_rsa", stack: "infra-prod" })).data
        ?.stackConfigDelete.id,
    ).toBe("keys/id_rsa");
  });

  it("P35–P38 manage spaces", async () => {
    const created = await gql(
      `mutation($input:SpaceInput!){spaceCreate(input: $input){${PROVIDER_SPACE}}}`,
      {
        input: {
          name: "Platform",
          description: "",
          inheritEntities: true,
          parentSpace: "root",
          labels: null,
        },
      },
    );
    const space = created.data?.spaceCreate;
    expect(space).toMatchObject({
      name: "Platform",
      description: "",
      inheritEntities: true,
      parentSpace: "root",
      labels: [],
    });
    expect(
      (
        await gql(`query($id:ID!){space(id: $id){${PROVIDER_SPACE}}}`, {
          id: space.id,
        })
      ).data?.space,
    ).toEqual(space);
    const updated = await gql(
      `mutation($input:SpaceInput!$space:ID!){spaceUpdate(space: $space, input: $input){${PROVIDER_SPACE}}}`,
      {
        input: {
          name: "Platform",
          description: "core",
          inheritEntities: false,
          parentSpace: "team-a",
          labels: ["x"],
        },
        space: space.id,
      },
    );
    expect(updated.data?.spaceUpdate).toMatchObject({
      description: "core",
      parentSpace: "team-a",
      labels: ["x"],
    });
    expect(
      (
        await gql(
          `mutation($id:ID!){spaceDelete(space: $id){${PROVIDER_SPACE}}}`,
          { id: space.id },
        )
      ).data?.spaceDelete.id,
    ).toBe(space.id);
    expect(
      (
        await gql(`query($id:ID!){space(id: $id){${PROVIDER_SPACE}}}`, {
          id: space.id,
        })
      ).data,
    ).toEqual({ space: null });
    const root = await gql(
      `mutation($id:ID!){spaceDelete(space: $id){${PROVIDER_SPACE}}}`,
      { id: "root" },
    );
    expect(root.errors?.[0]?.message).toBe(
      "spaceDelete space: the root space cannot be deleted",
    );
  });
});

describe("API key access over GraphQL", () => {
  it("answers an operation Stackyard does not serve with NOT_IMPLEMENTED, naming it", async () => {
    // The provider's spacelift_webhook sends this.
    const res = await gql(
      `mutation($stack: ID!){webhooksIntegrationDelete(stack: $stack, id: "x"){id}}`,
      { stack: "any" },
    );
    expect(res.errors?.[0]?.extensions?.code).toBe("NOT_IMPLEMENTED");
    expect(res.errors?.[0]?.message).toMatch(
      /^webhooksIntegrationDelete is not supported by Stackyard yet/,
    );
  });

  it("hides other spaces and refuses writes to READ keys", async () => {
    const readA = await keyToken("team-a", "READ");
    const writeB = await keyToken("team-b", "WRITE");
    await gql(
      "mutation($input:StackInput!$manageState:Boolean!$slug:String$stackObjectID:String){stackCreate(input: $input, manageState: $manageState, stackObjectID: $stackObjectID, slug: $slug){id}}",
      {
        input: providerStackInput({ name: "a-only", space: "team-a" }),
        manageState: true,
        slug: null,
        stackObjectID: null,
      },
    );
    const q =
      "query($id:ID!){stack(id: $id){id,name,canWrite,spaceDetails{accessLevel}}}";
    expect(await gql(q, { id: "a-only" }, readA)).toEqual({
      data: {
        stack: {
          id: "a-only",
          name: "a-only",
          canWrite: false,
          spaceDetails: { accessLevel: "READ" },
        },
      },
    });
    expect(await gql(q, { id: "a-only" }, writeB)).toEqual({
      data: { stack: null },
    });
    const lock = await gql(
      "mutation($note:String!$stack:ID!){stackLock(id: $stack, note: $note){id}}",
      { note: "", stack: "a-only" },
      readA,
    );
    expect(lock.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const hidden = await gql(
      "mutation($note:String!$stack:ID!){stackLock(id: $stack, note: $note){id}}",
      { note: "", stack: "a-only" },
      writeB,
    );
    expect(hidden.errors?.[0]).toMatchObject({
      message: "stack a-only not found",
      extensions: { code: "NOT_FOUND" },
    });
    const list = await gql("{stacks{id}}", undefined, writeB);
    expect(list).toEqual({ data: { stacks: [] } });
  });
});
