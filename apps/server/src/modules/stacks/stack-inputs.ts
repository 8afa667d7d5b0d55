import { z } from "zod";
import {
  HOOK_NAMES,
  configElementProblem,
  type HookLists,
  type StackVendorForm,
  type WorkflowTool,
} from "./stack.ts";

/**
 * Input schemas for the stacks module's writes. They mirror the GraphQL input types
 * (StackInput, ContextInput, SpaceInput, ConfigInput) field for field, because those are
 * the shapes callers send; the Terraform provider sends every optional key as an
 * explicit null, which means "unset" (the default), not "leave unchanged" — except
 * `space` and `vendorConfig`, where null keeps the current value on update.
 * Every problem becomes a ValidationError naming the operation and the field:
 * "stackCreate input.branch: must not be empty".
 */

export { parseInput } from "../../platform/validation.ts";

const nonEmpty = z.string().trim().min(1, { error: "must not be empty" });
const optionalText = z
  .string()
  .nullish()
  .transform((v) => v ?? "");
const optionalId = z
  .string()
  .nullish()
  .transform((v) => (v?.trim() ? v.trim() : null));
const list = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);

const labels = z
  .array(
    z.string().trim().min(1, { error: "labels must not be empty strings" }),
  )
  .nullish()
  .transform((v) => v ?? [])
  .refine((v) => new Set(v).size === v.length, {
    error: "labels must be unique",
  });

const relativePath = z
  .string()
  .nullish()
  .transform((v) => v?.trim() ?? "")
  .refine((v) => !v.startsWith("/"), {
    error: "must be relative to the repository root",
  })
  .refine((v) => !v.split("/").includes(".."), {
    error: 'must not contain ".."',
  });

const hooksShape = Object.fromEntries(
  HOOK_NAMES.map((h) => [h, list]),
) as Record<(typeof HOOK_NAMES)[number], typeof list>;

export const VCS_PROVIDERS = [
  "AZURE_DEVOPS",
  "BITBUCKET_CLOUD",
  "BITBUCKET_DATACENTER",
  "GIT",
  "GITHUB",
  "GITHUB_ENTERPRISE",
  "GITLAB",
  "SHOWCASE",
  "SPACELIFT",
] as const;

export interface VendorSettings {
  /** Which input block the client used; read back as the same GraphQL type. */
  form: StackVendorForm;
  workflowTool: WorkflowTool;
  toolVersion: string | null;
  terraformWorkspace: string | null;
  externalStateAccess: boolean;
  smartSanitization: boolean;
}

const nullableText = z
  .string()
  .nullish()
  .transform((v) => (v?.trim() ? v.trim() : null));

const terraformInput = z.object({
  useSmartSanitization: z.boolean().nullish(),
  version: nullableText,
  workflowTool: z.enum(["TERRAFORM_FOSS", "OPEN_TOFU", "CUSTOM"]).nullish(),
  workspace: nullableText,
  externalStateAccessEnabled: z.boolean().nullish(),
});
const openTofuInput = z.object({
  concise: z.boolean().nullish(),
  externalStateAccessEnabled: z.boolean().nullish(),
  useSmartSanitization: z.boolean().nullish(),
  version: nullableText,
  workflowTool: z.enum(["OPENTOFU", "CUSTOM"]).nullish(),
  workspace: nullableText,
});
const UNSUPPORTED_VENDORS = [
  "ansible",
  "cloudFormation",
  "kubernetes",
  "pulumi",
  "terragrunt",
] as const;

const vendorConfig = z
  .object({
    terraform: terraformInput.nullish(),
    opentofu: openTofuInput.nullish(),
    ansible: z.unknown().optional(),
    cloudFormation: z.unknown().optional(),
    kubernetes: z.unknown().optional(),
    pulumi: z.unknown().optional(),
    terragrunt: z.unknown().optional(),
  })
  .nullish()
  .superRefine((v, ctx) => {
    if (!v) return;
    for (const vendor of UNSUPPORTED_VENDORS) {
      if (v[vendor] != null) {
        ctx.addIssue({
          code: "custom",
          path: [vendor],
          message:
            "only OpenTofu/Terraform stacks are supported (use terraform or opentofu)",
        });
      }
    }
    if (v.terraform && v.opentofu) {
      ctx.addIssue({
        code: "custom",
        message: "set exactly one of terraform or opentofu",
      });
    }
  })
  .transform((v): VendorSettings | null => {
    if (v?.terraform) {
      const t = v.terraform;
      return {
        form: "TERRAFORM",
        workflowTool: t.workflowTool ?? "OPEN_TOFU",
        toolVersion: t.version,
        terraformWorkspace: t.workspace,
        externalStateAccess: t.externalStateAccessEnabled ?? false,
        smartSanitization: t.useSmartSanitization ?? false,
      };
    }
    if (v?.opentofu) {
      const t = v.opentofu;
      return {
        form: "OPENTOFU",
        workflowTool: t.workflowTool === "CUSTOM" ? "CUSTOM" : "OPEN_TOFU",
        toolVersion: t.version,
        terraformWorkspace: t.workspace,
        externalStateAccess: t.externalStateAccessEnabled ?? false,
        smartSanitization: t.useSmartSanitization ?? false,
      };
    }
    return null;
  });

export const stackInputSchema = z
  .object({
    administrative: z.boolean(),
    autodeploy: z.boolean(),
    autoretry: z.boolean(),
    branch: nonEmpty,
    name: nonEmpty.max(200, { error: "must be at most 200 characters" }),
    repository: nonEmpty,
    githubActionDeploy: z.boolean().nullish(),
    localPreviewEnabled: z.boolean().nullish(),
    enableWellKnownSecretMasking: z.boolean().nullish(),
    enableSensitiveOutputUpload: z.boolean().nullish(),
    protectFromDeletion: z.boolean().nullish(),
    ...hooksShape,
    description: optionalText,
    labels,
    namespace: optionalText,
    projectRoot: relativePath,
    additionalProjectGlobs: list,
    gitSparseCheckoutPaths: list,
    provider: z.enum(VCS_PROVIDERS).nullish(),
    repositoryURL: nullableText,
    runnerImage: nullableText,
    space: optionalId,
    vcsIntegrationId: optionalId,
    vendorConfig,
    workerPool: optionalId,
  })
  .transform((i) => ({
    name: i.name,
    description: i.description,
    labels: i.labels,
    spaceId: i.space,
    provider: i.provider ?? "GIT",
    repository: i.repository,
    repositoryUrl: i.repositoryURL,
    namespace: i.namespace,
    branch: i.branch,
    projectRoot: i.projectRoot,
    additionalProjectGlobs: i.additionalProjectGlobs,
    gitSparseCheckoutPaths: i.gitSparseCheckoutPaths,
    vcsIntegrationId: i.vcsIntegrationId,
    workerPoolId: i.workerPool,
    vendor: i.vendorConfig,
    runnerImage: i.runnerImage,
    autodeploy: i.autodeploy,
    autoretry: i.autoretry,
    administrative: i.administrative,
    githubActionDeploy: i.githubActionDeploy ?? true,
    localPreviewEnabled: i.localPreviewEnabled ?? false,
    protectFromDeletion: i.protectFromDeletion ?? false,
    enableWellKnownSecretMasking: i.enableWellKnownSecretMasking ?? false,
    enableSensitiveOutputsUpload: i.enableSensitiveOutputUpload ?? true,
    hooks: Object.fromEntries(HOOK_NAMES.map((h) => [h, i[h]])) as HookLists,
  }));
/** The GraphQL StackInput, as the Terraform provider sends it. */
export type StackInput = z.input<typeof stackInputSchema>;
export type StackSettings = z.output<typeof stackInputSchema>;

const hooksInput = z
  .object(hooksShape)
  .nullish()
  .transform(
    (h) =>
      Object.fromEntries(HOOK_NAMES.map((n) => [n, h?.[n] ?? []])) as HookLists,
  );

export const contextInputSchema = z
  .object({
    name: nonEmpty.max(200, { error: "must be at most 200 characters" }),
    description: optionalText,
    hooks: hooksInput,
    labels,
    space: optionalId,
  })
  .transform((i) => ({
    name: i.name,
    description: i.description,
    hooks: i.hooks,
    labels: i.labels,
    spaceId: i.space,
  }));
export type ContextInput = z.input<typeof contextInputSchema>;
export type ContextSettings = z.output<typeof contextInputSchema>;

export const spaceInputSchema = z
  .object({
    name: nonEmpty.max(200, { error: "must be at most 200 characters" }),
    description: optionalText,
    inheritEntities: z.boolean(),
    parentSpace: nonEmpty,
    labels,
  })
  .transform((i) => ({
    name: i.name,
    description: i.description,
    inheritEntities: i.inheritEntities,
    parentSpaceId: i.parentSpace,
    labels: i.labels,
  }));
export type SpaceInput = z.input<typeof spaceInputSchema>;
export type SpaceSettings = z.output<typeof spaceInputSchema>;

export const configInputSchema = z
  .object({
    id: z.string().min(1, { error: "must not be empty" }),
    type: z.enum(["ENVIRONMENT_VARIABLE", "FILE_MOUNT"]),
    value: z.string(),
    writeOnly: z.boolean(),
    description: optionalText,
  })
  .superRefine((c, ctx) => {
    const problem = configElementProblem(c);
    if (!problem) return;
    const [field, ...rest] = problem.split(": ");
    ctx.addIssue({
      code: "custom",
      path: field ? [field] : [],
      message: rest.join(": "),
    });
  });
export type ConfigInput = z.input<typeof configInputSchema>;
