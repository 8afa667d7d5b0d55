import { z } from "zod";
import { LOCAL_WORKSPACE_ID_PATTERN } from "./local-workspace-archive.ts";
import { PROTOCOL_VERSION } from "./version.ts";

/**
 * Run execution between the server and a launcher.
 *
 * Control goes over MQTT (server → worker, on the worker's readonly topic):
 * `run.assign` hands a claimed run to the one worker that the server picked in a
 * database transaction; `run.stop` asks it to stop. Everything the worker reports goes
 * over HTTPS to the worker API with the run-scoped bearer token from `run.assign`
 * (`runToken`), because it must not be lost: the launcher retries each request until
 * the server answers 2xx or a 4xx that says retrying is pointless. Every report is
 * idempotent:
 * - `POST {apiUrl}/worker/v1/runs/{runId}/logs` `RunLogChunk`: keyed by
 *   (runId, state, stateVersion, seq); a duplicate seq is ignored.
 * - `POST {apiUrl}/worker/v1/runs/{runId}/events` `RunEvent`: a state the run already
 *   passed, or a result for an assignment that is no longer current
 *   (`assignment` mismatch), is acknowledged and ignored.
 * - `PUT {apiUrl}/worker/v1/runs/{runId}/workspace` (body: a sealed box, text) stores the
 *   planned workspace; `GET` the same path returns it for the apply phase. The box is
 *   sealed to the pool's public key and its plaintext is the workspace tar.gz bytes
 *   themselves (not base64); the server stores and returns the text unchanged.
 * - `PUT {apiUrl}/worker/v1/runs/{runId}/plan` `PlanDocumentUpload` (JSON, up to
 *   PLAN_BODY_LIMIT_BYTES): after a successful plan, before the result event, the
 *   per-resource changes of `tofu show -json`, already masked on the worker. Storing it
 *   again replaces it; an upload of a superseded assignment is acknowledged and ignored.
 * - `GET {apiUrl}/worker/v1/runs/{runId}/local-workspace`: the uploaded archive of a
 *   local preview (`spec.localWorkspace`), gzip tar bytes; 404 for any other run.
 *
 * Secret values inside `run.assign` are sealed boxes (sealed-box.ts) to the pool's
 * public key; only a launcher holding the pool's private key can open them.
 */
const version = z.literal(PROTOCOL_VERSION);

export const RUN_PHASES = ["plan", "apply", "perform", "destroy"] as const;
export const runPhaseSchema = z.enum(RUN_PHASES);
export type RunPhase = z.infer<typeof runPhaseSchema>;

export const RUN_STATE_PHASES = [
  "INITIALIZING",
  "PLANNING",
  /**
   * A targeted replan's checkout and init: the run goes PREPARING_REPLAN → PLANNING
   * (no INITIALIZING), so its init logs stay in PREPARING_REPLAN.
   */
  "PREPARING_REPLAN",
  "APPLYING",
  "PERFORMING",
  "DESTROYING",
] as const;
export const runStatePhaseSchema = z.enum(RUN_STATE_PHASES);

const hookName = z.enum([
  "beforeInit",
  "afterInit",
  "beforePlan",
  "afterPlan",
  "beforeApply",
  "afterApply",
  "beforePerform",
  "afterPerform",
  "beforeDestroy",
  "afterDestroy",
  "afterRun",
]);

const ADDRESS_NAME = String.raw`[A-Za-z_][A-Za-z0-9_-]*`;
const ADDRESS_INDEX = String.raw`(?:\[(?:[0-9]+|"[^"\\\u0000-\u001f\u007f]*")\])?`;
const MODULE_STEP = String.raw`module\.${ADDRESS_NAME}${ADDRESS_INDEX}`;
const RESOURCE = String.raw`(?:data\.)?${ADDRESS_NAME}\.${ADDRESS_NAME}${ADDRESS_INDEX}`;
/**
 * One OpenTofu/Terraform resource address, as `-target` takes it: optional
 * `module.<name>[<index>]` steps, then `[data.]<type>.<name>[<index>]`, or a module
 * step alone (targets the whole module). An index is a number or a double-quoted key
 * without quotes, backslashes or control characters. Anything else (flags, spaces,
 * shell syntax) is refused, so a target can never become an option of its own.
 */
export const RESOURCE_ADDRESS_PATTERN = new RegExp(
  String.raw`^(?:${MODULE_STEP}\.)*(?:${MODULE_STEP}|${RESOURCE})$`,
);

export const resourceAddressSchema = z
  .string()
  .max(1024)
  .regex(RESOURCE_ADDRESS_PATTERN, {
    error: (issue) =>
      `${JSON.stringify(issue.input)} is not a resource address; use the form [module.<name>.]<type>.<name>[<index>], e.g. aws_instance.web or module.net.aws_subnet.a["x"]`,
  });

/** Whether `value` is a resource address `-target` may take (RESOURCE_ADDRESS_PATTERN). */
export function isResourceAddress(value: string): boolean {
  return value.length <= 1024 && RESOURCE_ADDRESS_PATTERN.test(value);
}

/** Longest per-run runtime configuration (`RunAssignSpec.runtimeConfigYaml`), in characters. */
export const MAX_RUNTIME_CONFIG_YAML_CHARS = 64 * 1024;

/** A value that is plain text, or (when `sealed`) a sealed box to the pool key. */
const maybeSealed = z.object({ sealed: z.boolean(), value: z.string() });

export const runAssignSpecSchema = z.object({
  runId: z.string(),
  stackId: z.string(),
  runType: z.enum(["TRACKED", "PROPOSED", "TASK", "DESTROY"]),
  phase: runPhaseSchema,
  repository: z.object({
    /** Without credentials: what logs and messages may show. */
    url: z.string(),
    commitSha: z.string().nullable(),
    branch: z.string(),
    /**
     * Set when a VCS integration decides where the stack clones from (GitHub, GitLab):
     * the URL to clone, sealed, since it may carry a token. The launcher clones from it
     * instead of `url` and never shows it. Absent: clone `url`.
     */
    cloneUrl: maybeSealed.optional(),
  }),
  projectRoot: z.string(),
  tool: z.object({
    kind: z.enum(["tofu", "terraform"]),
    version: z.string().nullable(),
  }),
  /** Secret values are sealed; plain ones are not. */
  environment: z.array(
    z.object({ name: z.string(), value: maybeSealed, secret: z.boolean() }),
  ),
  /** Content is base64; secret files' content is a sealed box of the base64 text. */
  mountedFiles: z.array(
    z.object({
      relativePath: z.string(),
      content: maybeSealed,
      secret: z.boolean(),
    }),
  ),
  hooks: z.partialRecord(hookName, z.array(z.string())),
  /** The password is a sealed box. */
  stateBackend: z
    .object({
      address: z.string(),
      username: z.string(),
      password: maybeSealed,
    })
    .nullable(),
  command: z.string().nullable(),
  skipInit: z.boolean(),
  computed: z.record(z.string(), z.string()),
  /**
   * Plan phase of a targeted replan (the run was REPLAN_REQUESTED): plan only these
   * resource addresses (`-target=<address>` each) and report the checkout and init in
   * PREPARING_REPLAN instead of INITIALIZING. Absent or empty: a full plan.
   */
  replanTargets: z.array(resourceAddressSchema).max(1000).optional(),
  /**
   * The run's own runtime configuration (`spacectl stack deploy --runtime-config`): the
   * YAML document as the trigger sent it, in the `.spacelift/config.yml` format. Sent
   * for every phase of the run; the launcher validates it and merges it over the
   * repository's file. Absent: the repository's file alone.
   */
  runtimeConfigYaml: z.string().max(MAX_RUNTIME_CONFIG_YAML_CHARS).optional(),
  /**
   * A local preview (`runProposeLocalWorkspace`): the run's source is the uploaded
   * archive, not a checkout of `repository`. The launcher fetches it with
   * `GET {apiUrl}/worker/v1/runs/{runId}/local-workspace` (a gzip tar whose entries all
   * sit under `<id>/`, local-workspace-archive.ts), extracts `<id>/` as the repository
   * root and clones nothing. Absent: clone `repository` as usual.
   */
  localWorkspace: z
    .object({ id: z.string().regex(LOCAL_WORKSPACE_ID_PATTERN) })
    .optional(),
});
export type RunAssignSpec = z.infer<typeof runAssignSpecSchema>;

export const runAssignSchema = z.object({
  v: version,
  type: z.literal("run.assign"),
  runId: z.string(),
  /**
   * Identifies this hand-over (the run's state version when it was claimed). Reports
   * carry it back; the server ignores reports of a superseded assignment.
   */
  assignment: z.number().int().positive(),
  /** Base URL of the worker API (the server's public URL). */
  apiUrl: z.string(),
  /**
   * Bearer token for the worker API, valid for this run only, until it ends. Always a
   * sealed box to the pool's public key, like the other secrets: the broker, its logs and
   * anyone who can read the worker's topic see only the box.
   */
  runToken: z.object({ sealed: z.literal(true), value: z.string() }),
  spec: runAssignSpecSchema,
  /** apply phase: the planned workspace must be fetched (GET .../workspace) first. */
  needsWorkspace: z.boolean(),
});

export const runStopSchema = z.object({
  v: version,
  type: z.literal("run.stop"),
  runId: z.string(),
  reason: z.string().max(1000),
});

export type RunAssign = z.infer<typeof runAssignSchema>;
export type RunStop = z.infer<typeof runStopSchema>;

// ---- worker API bodies (HTTP, worker → server) ----

export const runLogChunkSchema = z.object({
  assignment: z.number().int().positive(),
  state: runStatePhaseSchema,
  /** 0, 1, 2, ... per (run, state) in this assignment; text is already masked. */
  seq: z.number().int().nonnegative(),
  /** One or more whole lines, each ending in "\n". At most 256 KiB. */
  text: z.string().max(256 * 1024),
});
export type RunLogChunk = z.infer<typeof runLogChunkSchema>;

export const planSummarySchema = z.object({
  hasChanges: z.boolean(),
  add: z.number().int().nonnegative(),
  change: z.number().int().nonnegative(),
  destroy: z.number().int().nonnegative(),
  /**
   * Changed resources, addresses and actions only. Launchers before the plan document
   * also sent masked `before`/`after` here; the server ignores them.
   */
  resources: z.array(
    z.object({
      address: z.string(),
      actions: z.array(z.string()),
      before: z.unknown().optional(),
      after: z.unknown().optional(),
    }),
  ),
  outputs: z.array(
    z.object({ name: z.string(), actions: z.array(z.string()) }),
  ),
});

/**
 * One entry of the plan's `resource_changes`, in the shape OPA plan policies read as
 * `input.terraform.resource_changes[]`. `before`/`after` are the attribute values with
 * every value tofu marks sensitive replaced by SENSITIVE_PLACEHOLDER and the run's
 * secrets masked as in logs; `after` holds UNKNOWN_PLACEHOLDER where the value is known
 * only after apply.
 */
export const planResourceChangeSchema = z.object({
  address: z.string().min(1),
  /** Set when the resource moved (`moved` blocks); the address before the move. */
  previous_address: z.string().optional(),
  /** "managed" or "data". */
  mode: z.string().optional(),
  type: z.string(),
  name: z.string(),
  provider_name: z.string(),
  change: z.object({
    actions: z.array(z.string()).min(1),
    before: z.unknown(),
    after: z.unknown(),
  }),
});
export type PlanResourceChange = z.infer<typeof planResourceChangeSchema>;

/** The masked plan document a run's plan policies and its diff view read. */
export const planDocumentSchema = z.object({
  terraform_version: z.string(),
  resource_changes: z.array(planResourceChangeSchema),
});
export type PlanDocument = z.infer<typeof planDocumentSchema>;

export const planDocumentUploadSchema = z.object({
  assignment: z.number().int().positive(),
  document: planDocumentSchema,
});
export type PlanDocumentUpload = z.infer<typeof planDocumentUploadSchema>;

/** What a value marked sensitive by tofu becomes before it leaves the worker. */
export const SENSITIVE_PLACEHOLDER = "(sensitive)";
/** What a value known only after apply becomes in `after`. */
export const UNKNOWN_PLACEHOLDER = "(known after apply)";
/** Largest plan document upload the server accepts (JSON text). */
export const PLAN_BODY_LIMIT_BYTES = 256 * 1024 * 1024;

export const runEventSchema = z.discriminatedUnion("type", [
  /** The worker entered a state (INITIALIZING, PLANNING, ...). */
  z.object({
    type: z.literal("state"),
    assignment: z.number().int().positive(),
    state: runStatePhaseSchema,
  }),
  /** The phase ended. A plan with changes uploaded its workspace first (tracked runs). */
  z.object({
    type: z.literal("result"),
    assignment: z.number().int().positive(),
    phase: runPhaseSchema,
    ok: z.boolean(),
    stopped: z.boolean().default(false),
    failureReason: z.string().max(4000).nullable().default(null),
    plan: planSummarySchema.nullable().default(null),
  }),
]);
export type RunEvent = z.infer<typeof runEventSchema>;

export const WORKER_API_PREFIX = "/worker/v1/runs";
