import {
  encodeMessage,
  isResourceAddress,
  MAX_RUNTIME_CONFIG_YAML_CHARS,
  readonlyTopic,
  seal,
  type RunAssign,
  type RunAssignSpec,
} from "@stackyard/protocol";
import { createPublicKey, type KeyObject } from "node:crypto";
import type { WorkerTransport } from "../../platform/broker/worker-transport.ts";
import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { Stack, StackService } from "../stacks/index.ts";
import { isAwaitingWorker } from "../run-status/index.ts";
import { nextState } from "./run.ts";
import { phaseOf } from "./run-phases.ts";
import { RunVersionConflictError } from "./run-errors.ts";
import { enqueueDispatch, enqueueSchedulePass } from "./run-enqueue.ts";
import { findPoolPublicKey } from "./run-queries.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord } from "./run-repo.ts";
import type { RunTokenSigner } from "./run-token.ts";
import type { LocalPreviews } from "./local-preview-service.ts";

/**
 * The writes of `workers` made for the runs module, inside its transactions. Implemented
 * by the workers module (`claimIdleWorker`, `releaseWorker`) and injected by the
 * composition root, so runs never imports workers.
 */
export interface WorkerSlots {
  /** Locks (FOR UPDATE SKIP LOCKED) and takes an IDLE, undrained worker of the pool for `runId`. */
  claimIdleWorker(
    db: Database,
    poolId: string,
    runId: string,
  ): Promise<{ id: string } | null>;
  /** Frees the worker if it still holds `runId`. */
  releaseWorker(
    db: Database,
    workerId: string,
    runId: string,
  ): Promise<unknown>;
}

/** What the dispatcher needs from the state module (which comes after runs, so injected). */
export interface StateCredentialIssuer {
  issueStateCredentials(input: {
    runId: string;
    stackId: string;
    scope: "read" | "write";
    ttlSeconds: number;
  }): Promise<{ username: string; password: string; address: string }>;
}

/**
 * Where a stack is cloned from when a VCS integration decides it (GitHub, GitLab stacks):
 * implemented by the VCS module, which comes after runs, and injected by the composition
 * root. null: clone `repositoryUrl ?? repository` as given. The URL may carry a
 * short-lived token, so the dispatcher only puts it into `run.assign` sealed to the
 * pool's key (`repository.cloneUrl`); it is never logged, stored or returned. A thrown
 * error's message (never the URL) becomes the run's failure reason.
 */
export interface CloneUrlPort {
  resolveCloneUrl(
    stack: Pick<
      Stack,
      | "id"
      | "provider"
      | "namespace"
      | "repository"
      | "repositoryUrl"
      | "vcsIntegrationId"
    >,
  ): Promise<string | null>;
}

/** The URL without userinfo: what a spec may show in the clear. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^/@\s]*@/, "//");
  }
}

/**
 * Mints the run's OIDC identity token (workload identity, spacelift-reference §7.9):
 * implemented by the auth module with the instance key and injected by the composition
 * root. The token goes into `run.assign` sealed, as the secret variable
 * SPACELIFT_OIDC_TOKEN and the secret file `spacelift.oidc` at the workspace root, so
 * the launcher masks it in logs and never archives it with the workspace.
 */
export interface RunIdentityPort {
  mint(run: {
    spaceId: string;
    stackId: string;
    runId: string;
    runType: RunRecord["type"];
  }): Promise<string>;
}

/** Where the run identity token is delivered (names from Spacelift, §7.9). */
export const RUN_IDENTITY_ENV = "SPACELIFT_OIDC_TOKEN";
export const RUN_IDENTITY_FILE = "spacelift.oidc";

export interface RunDispatchDeps {
  db: Database;
  clock: () => Date;
  log: Logger;
  stacks: Pick<
    StackService,
    "loadStack" | "effectiveConfig" | "effectiveHooks"
  >;
  state: StateCredentialIssuer;
  workerSlots: WorkerSlots;
  transport: Pick<WorkerTransport, "publish">;
  /** MQTT topic namespace. */
  namespace: string;
  /** The server's public URL: the worker API base (`apiUrl`) and STACKYARD_API_URL. */
  apiUrl: string;
  runTokens: Pick<RunTokenSigner, "sign">;
  /** Longest a run may take: the TTL of run tokens and state credentials. */
  maxDurationSeconds: number;
  /** Clone URLs of GitHub/GitLab stacks; absent: every stack clones `repositoryUrl ?? repository`. */
  cloneUrls?: CloneUrlPort;
  /** Local previews (local-preview-service.ts): their workspace id and env overrides. */
  localWorkspaces?: Pick<LocalPreviews, "forRun">;
  /** Run identity tokens; absent: runs get none. */
  identity?: RunIdentityPort;
}

/** Runs a dispatch pass looks at; the next pass (or the reconcile job's) takes the rest. */
const BATCH = 100;
/** Run tokens outlive the maximum run duration by this much, for reports sent late. */
const RUN_TOKEN_GRACE_SECONDS = 600;

export interface DispatchPassResult {
  /** Runs handed to a worker: `[runId, workerId]`. */
  dispatched: { runId: string; workerId: string }[];
  /** Runs failed because they cannot be dispatched (no pool key, unsupported tool, ...). */
  failed: { runId: string; reason: string }[];
  /** The pass hit its batch limit. */
  more: boolean;
}

interface Claimed {
  run: RunRecord;
  workerId: string;
  poolId: string;
  publicKey: string;
}

const TOOLS = { OPEN_TOFU: "tofu", TERRAFORM_FOSS: "terraform" } as const;

class UndispatchableRunError extends Error {}

/**
 * `replanTargets` of the spec: the run's stored targets when this hand-over is its
 * targeted replan (claimed from REPLAN_REQUESTED), nothing otherwise. Targets were
 * checked when the replan was requested; an invalid one stored earlier makes the run
 * undispatchable (failed with the address named) rather than a full plan.
 */
function replanTargetsOf(
  run: Pick<RunRecord, "state" | "replanTargets">,
): Pick<RunAssignSpec, "replanTargets"> {
  if (run.state !== "PREPARING_REPLAN") return {};
  const targets = run.replanTargets ?? [];
  if (targets.length === 0)
    throw new UndispatchableRunError(
      "the targeted replan has no resource addresses; discard the run or request the replan again with targets",
    );
  const bad = targets.find((t) => !isResourceAddress(t));
  if (bad !== undefined)
    throw new UndispatchableRunError(
      `replan target ${JSON.stringify(bad)} is not a resource address`,
    );
  return { replanTargets: targets };
}

/**
 * `runtimeConfigYaml` of the spec: the `yaml` document of the run's stored runtime
 * configuration (`runTrigger(runtimeConfig: {yaml})`), for every phase, so the apply
 * merges the same configuration the plan did. The trigger checked its size; a stored
 * one that no longer fits the message makes the run undispatchable rather than run
 * without it. The launcher validates the document itself.
 */
function runtimeConfigYamlOf(
  run: Pick<RunRecord, "runtimeConfig">,
): Pick<RunAssignSpec, "runtimeConfigYaml"> {
  const stored = run.runtimeConfig;
  if (typeof stored !== "object" || stored === null) return {};
  const yaml = (stored as { yaml?: unknown }).yaml;
  if (typeof yaml !== "string" || yaml.trim() === "") return {};
  if (yaml.length > MAX_RUNTIME_CONFIG_YAML_CHARS)
    throw new UndispatchableRunError(
      `the run's runtime configuration is longer than ${MAX_RUNTIME_CONFIG_YAML_CHARS} characters`,
    );
  return { runtimeConfigYaml: yaml };
}

/**
 * A local preview's environment overrides on top of the stack's and its contexts'
 * variables: an override replaces the variable of the same name (its `ro_`/`wo_` forms
 * too, so the stack's value cannot come back in a phase) and is sent plain, as the user
 * typed it on the command line.
 */
function withOverrides(
  environment: RunAssignSpec["environment"],
  overrides: ReadonlyArray<{ key: string; value: string }>,
): RunAssignSpec["environment"] {
  if (overrides.length === 0) return environment;
  const replaced = new Set(
    overrides.flatMap((o) => [o.key, `ro_${o.key}`, `wo_${o.key}`]),
  );
  return [
    ...environment.filter((e) => !replaced.has(e.name)),
    ...overrides.map((o) => ({
      name: o.key,
      value: { sealed: false, value: o.value },
      secret: false,
    })),
  ];
}

/**
 * Hands runs waiting for a worker (AWAITING_WORKER_STATES: READY, CONFIRMED for the apply
 * phase, REPLAN_REQUESTED for a targeted replan's plan) to idle workers, exactly once.
 *
 * The claim of one run is one transaction:
 * 1. lock the run row at the version it was read at (FOR UPDATE SKIP LOCKED: another
 *    dispatcher holding it is skipped, never waited for);
 * 2. take an IDLE, undrained worker of the run's pool (`claimIdleWorker`: its candidate
 *    row is locked with FOR UPDATE SKIP LOCKED and set BUSY with `current_run_id`);
 * 3. transition READY → PREPARING (CONFIRMED → PREPARING_APPLY, REPLAN_REQUESTED →
 *    PREPARING_REPLAN) as a compare-and-set on the version, setting `worker_id` and
 *    `worker_assignment` (the new version).
 * Two dispatchers therefore cannot hand one run to two workers (the run row lock and
 * the version check) nor one worker two runs (the worker row lock and the BUSY/holder
 * condition). No idle worker: the transaction writes nothing and the run keeps waiting.
 *
 * Only after the commit is `run.assign` published on the worker's readonly topic, so a
 * worker never sees a claim that could still roll back. Publishing is retried for ~10 s;
 * if it still fails (broker down), the claim stays committed and the run stays in
 * PREPARING: the reconciler fails
 * it once no report came for its pickup timeout (60 s), which frees the worker and the
 * stack, and the run can be retried. Nothing waits forever.
 *
 * Secret values (write-only env vars and files, the state password, a clone URL from a
 * VCS integration, and the run token) are sealed to the pool's public key; nothing here logs a spec.
 */
/** `run.assign` publish attempts, one per second: rides out a broker restart of ~10 s. */
const ASSIGN_PUBLISH_ATTEMPTS = 10;
const ASSIGN_PUBLISH_RETRY_MS = 1000;

export function createRunDispatcher(deps: RunDispatchDeps) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "runs", component: "dispatch" });
  const keys = new Map<string, KeyObject>();

  function keyOf(pem: string): KeyObject {
    let key = keys.get(pem);
    if (!key) {
      key = createPublicKey(pem);
      keys.set(pem, key);
    }
    return key;
  }

  async function failUndispatchable(
    tx: Database,
    run: RunRecord,
    reason: string,
  ): Promise<void> {
    await repo.transitionRun(tx, {
      runId: run.id,
      expectedStateVersion: run.stateVersion,
      to: nextState(run, { type: "failed", reason }),
      actor: null,
      note: `Failed: ${reason}`,
      failureReason: reason,
      now: clock(),
    });
    await enqueueSchedulePass(tx);
  }

  async function claim(
    candidate: { id: string; stateVersion: number },
    result: DispatchPassResult,
  ): Promise<Claimed | null> {
    try {
      return await db.transaction().execute(async (tx) => {
        const run = await repo.lockRunAtVersion(
          tx,
          candidate.id,
          candidate.stateVersion,
        );
        if (!run || !isAwaitingWorker(run.state)) return null;
        const poolId = run.workerPoolId;
        if (!poolId) {
          const reason = "the run has no worker pool";
          await failUndispatchable(tx, run, reason);
          result.failed.push({ runId: run.id, reason });
          return null;
        }
        const publicKey = await findPoolPublicKey(tx, poolId);
        if (!publicKey) {
          const reason = `worker pool ${poolId} has no public key to seal the run's secrets to; reset the pool with a certificate signing request (workerPoolReset), then retry the run`;
          await failUndispatchable(tx, run, reason);
          result.failed.push({ runId: run.id, reason });
          return null;
        }
        const worker = await deps.workerSlots.claimIdleWorker(
          tx,
          poolId,
          run.id,
        );
        if (!worker) return null;
        const claimed = await repo.transitionRun(tx, {
          runId: run.id,
          expectedStateVersion: run.stateVersion,
          to: nextState(run, { type: "claimed" }),
          actor: null,
          note: `Taken by worker ${worker.id}`,
          workerId: worker.id,
          newAssignment: true,
          now: clock(),
        });
        return { run: claimed, workerId: worker.id, poolId, publicKey };
      });
    } catch (err) {
      // A user action moved the run between our read and our lock: not ours any more.
      if (err instanceof RunVersionConflictError) return null;
      throw err;
    }
  }

  async function buildSpec(
    run: RunRecord,
    publicKey: KeyObject,
  ): Promise<RunAssignSpec> {
    const stack = await deps.stacks.loadStack(run.stackId);
    if (!stack)
      throw new UndispatchableRunError(`stack ${run.stackId} no longer exists`);
    if (stack.workflowTool === "CUSTOM")
      throw new UndispatchableRunError(
        "the stack's workflow tool is CUSTOM, which workers cannot run yet; use OPEN_TOFU or TERRAFORM_FOSS",
      );
    const maybeSeal = (value: string, secret: boolean) =>
      secret
        ? { sealed: true, value: seal(publicKey, value) }
        : { sealed: false, value };
    const local = (await deps.localWorkspaces?.forRun(run.id)) ?? null;
    // The apply phase restores the planned workspace and clones nothing; a local preview
    // takes its source from the uploaded archive.
    let cloneUrl: string | null = null;
    try {
      if (phaseOf(run) !== "apply" && !local)
        cloneUrl = (await deps.cloneUrls?.resolveCloneUrl(stack)) ?? null;
    } catch (err) {
      throw new UndispatchableRunError(
        `the stack's repository cannot be cloned through its VCS integration: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const elements = await deps.stacks.effectiveConfig(run.stackId);
    const environment = withOverrides(
      elements
        .filter((e) => e.type === "ENVIRONMENT_VARIABLE")
        .map((e) => ({
          name: e.id,
          value: maybeSeal(e.value, e.writeOnly),
          secret: e.writeOnly,
        })),
      local?.overrides ?? [],
    );
    const mountedFiles = elements
      .filter((e) => e.type === "FILE_MOUNT")
      .map((e) => ({
        relativePath: e.id,
        content: maybeSeal(e.value, e.writeOnly),
        secret: e.writeOnly,
      }));
    if (deps.identity) {
      // Minted per hand-over, so the apply phase gets a fresh hour of its own.
      const token = await deps.identity.mint({
        spaceId: stack.spaceId,
        stackId: stack.id,
        runId: run.id,
        runType: run.type,
      });
      // The instance's token replaces a stack variable or file of the same name.
      const keep = <T>(list: T[], drop: (item: T) => boolean) =>
        list.splice(0, list.length, ...list.filter((item) => !drop(item)));
      keep(environment, (e) => e.name === RUN_IDENTITY_ENV);
      keep(mountedFiles, (f) => f.relativePath === RUN_IDENTITY_FILE);
      environment.push({
        name: RUN_IDENTITY_ENV,
        value: maybeSeal(token, true),
        secret: true,
      });
      mountedFiles.push({
        relativePath: RUN_IDENTITY_FILE,
        content: maybeSeal(Buffer.from(token).toString("base64"), true),
        secret: true,
      });
    }
    let stateBackend: RunAssignSpec["stateBackend"] = null;
    if (stack.manageState) {
      const creds = await deps.state.issueStateCredentials({
        runId: run.id,
        stackId: run.stackId,
        scope: run.type === "PROPOSED" ? "read" : "write",
        ttlSeconds: deps.maxDurationSeconds,
      });
      stateBackend = {
        address: creds.address,
        username: creds.username,
        password: maybeSeal(creds.password, true),
      };
    }
    return {
      runId: run.id,
      stackId: run.stackId,
      runType: run.type,
      phase: phaseOf(run),
      repository: {
        url:
          cloneUrl !== null
            ? withoutCredentials(cloneUrl)
            : (stack.repositoryUrl ?? stack.repository),
        commitSha: run.commitSha,
        branch: run.branch,
        ...(cloneUrl !== null ? { cloneUrl: maybeSeal(cloneUrl, true) } : {}),
      },
      projectRoot: stack.projectRoot,
      tool: { kind: TOOLS[stack.workflowTool], version: stack.toolVersion },
      environment,
      mountedFiles,
      hooks: await deps.stacks.effectiveHooks(run.stackId),
      stateBackend,
      command: run.command,
      skipInit: run.skipInit,
      ...replanTargetsOf(run),
      ...runtimeConfigYamlOf(run),
      ...(local ? { localWorkspace: { id: local.id } } : {}),
      computed: {
        STACKYARD_API_URL: deps.apiUrl,
        TF_VAR_spacelift_space_id: stack.spaceId,
        TF_VAR_spacelift_stack_branch: stack.branch,
        TF_VAR_spacelift_repository: stack.repository,
        TF_VAR_spacelift_stack_labels: stack.labels.join(","),
        TF_VAR_spacelift_run_trigger: run.triggeredBy ?? "",
      },
    };
  }

  /**
   * Builds and publishes `run.assign` for the run's current hand-over. A run that cannot
   * be built (stack gone, unsupported tool, a secret that does not decrypt) is failed
   * with the reason and its worker freed; a publish failure is logged and left to the
   * reconciler's pickup timeout.
   */
  async function sendAssignment(c: Claimed): Promise<boolean> {
    const { run } = c;
    let message: Buffer;
    try {
      if (run.workerAssignment === null)
        throw new Error(`run ${run.id} has no current assignment`);
      const publicKey = keyOf(c.publicKey);
      const spec = await buildSpec(run, publicKey);
      const runToken = await deps.runTokens.sign(
        { run: run.id, worker: c.workerId, pool: c.poolId },
        deps.maxDurationSeconds + RUN_TOKEN_GRACE_SECONDS,
      );
      const assign: RunAssign = {
        v: 1,
        type: "run.assign",
        runId: run.id,
        assignment: run.workerAssignment,
        apiUrl: deps.apiUrl,
        runToken: { sealed: true, value: seal(publicKey, runToken) },
        spec,
        needsWorkspace: spec.phase === "apply",
      };
      message = encodeMessage(assign);
    } catch (err) {
      const reason =
        err instanceof UndispatchableRunError
          ? err.message
          : `preparing the run for worker ${c.workerId} failed: ${err instanceof Error ? err.message : String(err)}`;
      log.error({ err, runId: run.id }, "could not build run.assign");
      await failAndRelease(run, c.workerId, reason);
      return false;
    }
    try {
      await publishWithRetries(
        readonlyTopic(deps.namespace, c.poolId, c.workerId),
        message,
      );
      log.info(
        {
          runId: run.id,
          workerId: c.workerId,
          assignment: run.workerAssignment,
          phase: phaseOf(run),
        },
        "run assigned to a worker",
      );
      return true;
    } catch (err) {
      log.error(
        { err, runId: run.id, workerId: c.workerId },
        "publishing run.assign failed; the reconciler fails the run if the worker never picks it up",
      );
      return false;
    }
  }

  /**
   * The claim is committed, so a failed publish is retried for a while (a broker
   * restarting, the transport reconnecting): a repeated `run.assign` is harmless (the
   * worker ignores an assignment it already took), whereas giving up leaves the run to
   * fail on the pickup or silence timeout though nothing is wrong with it.
   */
  async function publishWithRetries(topic: string, message: Buffer) {
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.transport.publish(topic, message);
        return;
      } catch (err) {
        if (attempt >= ASSIGN_PUBLISH_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, ASSIGN_PUBLISH_RETRY_MS));
      }
    }
  }

  async function failAndRelease(
    run: RunRecord,
    workerId: string,
    reason: string,
  ): Promise<void> {
    try {
      await db.transaction().execute(async (tx) => {
        await repo.transitionRun(tx, {
          runId: run.id,
          expectedStateVersion: run.stateVersion,
          to: nextState(run, { type: "failed", reason }),
          actor: null,
          note: `Failed: ${reason}`,
          failureReason: reason,
          now: clock(),
        });
        await deps.workerSlots.releaseWorker(tx, workerId, run.id);
        await enqueueSchedulePass(tx);
        await enqueueDispatch(tx);
      });
    } catch (err) {
      if (!(err instanceof RunVersionConflictError)) throw err;
    }
  }

  return {
    /** One pass over the runs waiting for a worker (see above). */
    async dispatch(): Promise<DispatchPassResult> {
      const result: DispatchPassResult = {
        dispatched: [],
        failed: [],
        more: false,
      };
      const waiting = await repo.listRunsAwaitingWorker(db, BATCH);
      result.more = waiting.length === BATCH;
      for (const candidate of waiting) {
        const claimed = await claim(candidate, result);
        if (!claimed) continue;
        if (await sendAssignment(claimed))
          result.dispatched.push({
            runId: claimed.run.id,
            workerId: claimed.workerId,
          });
      }
      return result;
    },

    /**
     * Publishes `run.assign` for a run its worker keeps (autodeploy: PLANNING → APPLYING
     * on the same worker). Call after the transaction that set the new assignment.
     */
    async assignHeldRun(run: RunRecord): Promise<boolean> {
      if (!run.workerId || !run.workerPoolId) return false;
      const publicKey = await findPoolPublicKey(db, run.workerPoolId);
      if (!publicKey) {
        await failAndRelease(
          run,
          run.workerId,
          `worker pool ${run.workerPoolId} has no public key any more`,
        );
        return false;
      }
      return sendAssignment({
        run,
        workerId: run.workerId,
        poolId: run.workerPoolId,
        publicKey,
      });
    },

    /** Tells the worker holding the run to stop it (after a committed stop). Best effort. */
    async sendStop(
      run: Pick<RunRecord, "id" | "workerId" | "workerPoolId">,
      reason: string,
    ): Promise<void> {
      if (!run.workerId || !run.workerPoolId) return;
      try {
        await deps.transport.publish(
          readonlyTopic(deps.namespace, run.workerPoolId, run.workerId),
          encodeMessage({
            v: 1,
            type: "run.stop",
            runId: run.id,
            reason: reason.slice(0, 1000),
          }),
        );
      } catch (err) {
        log.warn(
          { err, runId: run.id, workerId: run.workerId },
          "publishing run.stop failed; the worker's next report is refused instead",
        );
      }
    },
  };
}

export type RunDispatcher = ReturnType<typeof createRunDispatcher>;
