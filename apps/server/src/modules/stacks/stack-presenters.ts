import { schemaEnum } from "../../api/graphql-context.ts";
import {
  StackState as GraphQLStackState,
  VcsProvider,
} from "../../api/generated/resolvers.ts";
import type {
  ConfigElement,
  Context,
  ContextAttachment,
  Space,
  StackView,
} from "./stack.ts";
import type { StackContextAttachmentView } from "./stack-config.ts";

/**
 * Domain objects → the GraphQL object shapes of schema.graphql. Timestamps are unix
 * seconds (graphql-compat §0.5.9). Stack and Context nodes carry `spaceId` for the
 * field resolvers that check access lazily.
 */

export function unix(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

export function presentSpace(s: Space) {
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    inheritEntities: s.inheritEntities,
    parentSpace: s.parentSpaceId,
    labels: s.labels,
  };
}

export function presentConfigElement(e: ConfigElement) {
  return {
    id: e.id,
    checksum: e.checksum,
    createdAt: unix(e.createdAt),
    description: e.description || null,
    runtime: false,
    type: e.type,
    value: e.writeOnly ? null : e.value,
    writeOnly: e.writeOnly,
  };
}

export function presentStackContextAttachment(a: StackContextAttachmentView) {
  return {
    id: a.id,
    contextId: a.contextId,
    contextName: a.contextName,
    priority: a.priority,
    isAutoattached: a.isAutoattached,
    config: a.config.map(presentConfigElement),
  };
}

export function presentContextStackAttachment(a: ContextAttachment) {
  return {
    id: a.id,
    stackId: a.stackId,
    stackName: a.stackName,
    isModule: false,
    isAutoattached: a.isAutoattached,
    priority: a.priority,
  };
}

export function presentContext(c: Context) {
  return {
    id: c.id,
    name: c.name,
    description: c.description || null,
    labels: c.labels,
    space: c.spaceId,
    spaceId: c.spaceId,
    hooks: c.hooks,
    createdAt: unix(c.createdAt),
    updatedAt: unix(c.updatedAt),
  };
}

/**
 * The vendor reads back in the form the client sent it: a stack created with
 * `opentofu { }` is StackConfigVendorOpenTofu, one created with `terraform { workflowTool }`
 * (any tool, OPEN_TOFU included) is StackConfigVendorTerraform. The provider keeps an
 * `opentofu` block in its state whenever it reads the OpenTofu type, so answering it for a
 * `terraform_workflow_tool = "OPEN_TOFU"` stack made every plan want to remove that block.
 */
export function presentVendorConfig(s: StackView) {
  const common = {
    version: s.toolVersion,
    workspace: s.terraformWorkspace,
    useSmartSanitization: s.smartSanitization,
    externalStateAccessEnabled: s.externalStateAccess,
  };
  if (s.vendor === "OPENTOFU" && s.workflowTool !== "TERRAFORM_FOSS") {
    return {
      __typename: "StackConfigVendorOpenTofu" as const,
      ...common,
      concise: false,
      workflowTool:
        s.workflowTool === "CUSTOM"
          ? ("CUSTOM" as const)
          : ("OPENTOFU" as const),
    };
  }
  return {
    __typename: "StackConfigVendorTerraform" as const,
    ...common,
    workflowTool: s.workflowTool,
  };
}

export function presentStack(s: StackView, opts: { deleted?: boolean } = {}) {
  return {
    id: s.id,
    spaceId: s.spaceId,
    name: s.name,
    description: s.description || null,
    labels: s.labels,
    space: s.spaceId,
    spaceDetails: presentSpace(s.space),
    administrative: s.administrative,
    autodeploy: s.autodeploy,
    autoretry: s.autoretry,
    branch: s.branch,
    repository: s.repository,
    repositoryURL: s.repositoryUrl,
    namespace: s.namespace,
    provider: schemaEnum(VcsProvider, s.provider, "VCSProvider"),
    vcsIntegration: s.vcsIntegrationId
      ? { id: s.vcsIntegrationId, isDefault: false }
      : null,
    projectRoot: s.projectRoot || null,
    additionalProjectGlobs: s.additionalProjectGlobs,
    gitSparseCheckoutPaths: s.gitSparseCheckoutPaths,
    runnerImage: s.runnerImage,
    terraformVersion: s.toolVersion,
    managesStateFile: s.manageState,
    localPreviewEnabled: s.localPreviewEnabled,
    protectFromDeletion: s.protectFromDeletion,
    githubActionDeploy: s.githubActionDeploy,
    enableWellKnownSecretMasking: s.enableWellKnownSecretMasking,
    enableSensitiveOutputUpload: s.enableSensitiveOutputsUpload,
    isDisabled: s.isDisabled,
    starred: false,
    createdAt: unix(s.createdAt),
    deleted: opts.deleted ?? false,
    deleting: false,
    lockedBy: s.lockedBy,
    // stack-queries.ts maps the run states StackState lacks onto ones it has.
    state: schemaEnum(GraphQLStackState, s.state, "StackState"),
    stateSetAt: s.stateSetAt ? unix(s.stateSetAt) : null,
    trackedCommit: s.trackedCommit
      ? {
          authorLogin: null,
          authorName: s.trackedCommit.author ?? "",
          hash: s.trackedCommit.sha,
          message: s.trackedCommit.message ?? "",
          timestamp: unix(s.trackedCommit.at ?? s.updatedAt),
          url: null,
        }
      : null,
    trackedCommitSetBy: s.trackedCommit?.setBy ?? null,
    workerPool: s.workerPool
      ? {
          id: s.workerPool.id,
          name: s.workerPool.name,
          description: s.workerPool.description || null,
          labels: s.workerPool.labels,
          space: s.workerPool.spaceId,
        }
      : null,
    vendorConfig: presentVendorConfig(s),
    // Non-null: the provider dereferences it. `stackId` lets the modules that own
    // drift detection and webhooks resolve those fields.
    integrations: {
      stackId: s.id,
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
    ...s.hooks,
  };
}

/** The parents of the `Stack`, `Context`, `Space` and `StackIntegrations` field resolvers. */
export type StackNode = ReturnType<typeof presentStack>;
export type ContextNode = ReturnType<typeof presentContext>;
export type SpaceNode = ReturnType<typeof presentSpace>;
export type StackIntegrationsNode = StackNode["integrations"];
