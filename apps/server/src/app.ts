import type { Config } from "./platform/config/index.ts";
import {
  createDatabase,
  checkPostgresVersion,
  migrateToLatest,
  pingDatabase,
  type DatabaseHandle,
} from "./platform/db/index.ts";
import { loadInstanceKeys, type Encryptor } from "./platform/crypto/index.ts";
import {
  createBlobStore,
  ensureConfiguredBuckets,
  type BlobStore,
} from "./platform/storage/index.ts";
import {
  createEnqueue,
  createSqsQueueBackend,
  type LargeMessageStore,
} from "./platform/queue/index.ts";
import { createMetricsRegistry } from "./platform/http/http-server.ts";
import { createEgressGuard } from "./platform/http/egress.ts";
import type { Logger } from "./platform/log/logger.ts";
import { BuiltinBroker } from "./platform/broker/builtin-broker.ts";
import {
  InProcessTransport,
  MqttClientTransport,
  type WorkerTransport,
} from "./platform/broker/worker-transport.ts";
import {
  createAuthService,
  createIdentityService,
  createOidcLogin,
  createRunIdentityIssuer,
  createUserSessions,
  createTokenSigner,
  type Session,
} from "./modules/auth/index.ts";
import {
  claimIdleWorker,
  createWorkerService,
  releaseWorker,
} from "./modules/workers/index.ts";
import { createRunsModule } from "./modules/runs/index.ts";
import {
  createStateOperations,
  createStateService,
} from "./modules/state/index.ts";
import {
  createStacksModule,
  type StackService,
} from "./modules/stacks/index.ts";
import {
  createPoliciesModule,
  createPushFlagRecorder,
  createPushPolicyDecider,
  type TriggerRunPort,
} from "./modules/policies/index.ts";
import {
  RunActionNotAllowedError,
  type RunService,
} from "./modules/runs/index.ts";
import {
  createVcsModule,
  decidePush,
  type VcsProviderAdapters,
  type VcsRunsPort,
  type VcsStacksPort,
} from "./modules/vcs/index.ts";
import {
  createGithubAdapter,
  createGitlabAdapter,
} from "./modules/vcs/providers/index.ts";
import type { Registry } from "prom-client";

/**
 * The composition root: builds every part once, in dependency order (platform, then
 * modules in the order of docs/architecture.md), and hands the result to the roles.
 * Nothing here starts background work; roles do.
 */
export async function createApp(
  config: Config,
  opts: {
    databaseUrl: string;
    log: Logger;
    /** VCS provider adapters by kind; default: the GitHub and GitLab adapters (tests pass their own). */
    vcsAdapters?: VcsProviderAdapters;
  },
) {
  const { log } = opts;

  // Platform.
  const database: DatabaseHandle = createDatabase({
    url: opts.databaseUrl,
    poolSize: config.database.poolSize,
    log,
  });
  const closeOnError = async (err: unknown): Promise<never> => {
    await database.close();
    throw err;
  };
  const { db } = database;
  const pg = await checkPostgresVersion(db).catch(closeOnError);
  if (pg.warning) log.warn(pg.warning);
  const { applied } = await migrateToLatest(db).catch(closeOnError);
  if (applied.length) log.info({ applied }, "applied database migrations");

  // ENCRYPTION_TYPE: what wraps the data key (the RSA key, or KMS) and signs tokens (a
  // separate RSA key stored under the data key, or KMS). `signingKey` is passed as
  // `privateKey` below; in KMS mode it signs through KMS.
  const keys = await loadInstanceKeys(db, {
    type: config.encryption.type,
    rsa: {
      configuredPemBase64: config.encryption.rsaPrivateKey,
      dataDir: config.dataDir,
    },
    kms: { ...config.encryption.kms, endpoint: config.aws.endpointUrl },
  }).catch(closeOnError);
  const encryptor: Encryptor = keys.encryptor;
  const signingKey = keys.signingKey;

  // The configured driver; buckets get their expiration rules where the store has them.
  const storage: BlobStore = await Promise.resolve()
    .then(() => createBlobStore(config.objectStorage))
    .catch(closeOnError);
  await ensureConfiguredBuckets(storage, config.objectStorage).catch(
    closeOnError,
  );
  // Queue payloads over 256 KiB live in this bucket: the backends read and write it, and
  // producers of unbounded payloads enqueue with `enqueue` (others use the queue's own,
  // which refuses oversize payloads).
  const largeMessages: LargeMessageStore = {
    store: storage,
    bucket: config.objectStorage.buckets.largeQueueMessages,
  };
  const enqueue = createEnqueue(largeMessages);

  // MESSAGE_QUEUE_TYPE=sqs: drains receive from SQS; enqueue still writes queue_messages,
  // now an outbox that the drain role's relay sends to SQS (platform/queue/sqs).
  const sqsQueue =
    config.messageQueue.type === "sqs"
      ? await Promise.resolve()
          .then(() =>
            createSqsQueueBackend({
              queues: config.messageQueue.sqs,
              endpoint: config.aws.endpointUrl,
              fallbackRegion:
                config.encryption.kms.region ?? config.objectStorage.s3.region,
              largeMessages,
              log,
            }),
          )
          .catch(closeOnError)
      : null;

  const broker =
    config.mqtt.type === "builtin"
      ? new BuiltinBroker({
          host: config.server.bindAddress,
          port: config.mqtt.port,
          tls:
            config.mqtt.tls.certFile && config.mqtt.tls.keyFile
              ? {
                  certFile: config.mqtt.tls.certFile,
                  keyFile: config.mqtt.tls.keyFile,
                }
              : undefined,
          namespace: config.mqtt.namespace,
          logLevel: config.mqtt.logLevel,
          log,
          authenticate: (username: string, password: string) =>
            workers.authenticate(username, password),
        })
      : null;
  const transport: WorkerTransport = broker
    ? new InProcessTransport(broker)
    : new MqttClientTransport({
        url: config.mqtt.endpoint,
        username: config.mqtt.username,
        password: config.mqtt.password,
        log,
      });

  const metrics: Registry = createMetricsRegistry({ service: "stackyard" });

  // Modules, most basic first.
  const signer = createTokenSigner({
    privateKey: signingKey,
    issuer: config.server.publicUrl,
    audience: config.server.publicUrl,
  });
  const auth = createAuthService({
    db,
    signer,
    admin: config.admin,
    // LOGIN policies (policies come after auth in the module order).
    loginPolicy: (subject) => policies.decisions.decideLogin(subject),
    lastLoginPolicyChange: () => policies.service.lastLoginPolicyChange(),
  });
  const identity = createIdentityService({
    db,
    publicUrl: config.server.publicUrl,
  });
  // Single sign-on for people (OIDC from sso_config) and their browser sessions.
  const userSessions = createUserSessions({
    db,
    clock: () => new Date(),
    loginPolicy: (subject) => policies.decisions.decideLogin(subject),
    lastLoginPolicyChange: () => policies.service.lastLoginPolicyChange(),
    adminLogin: config.sso?.adminLogin ?? null,
    ssoEnabled: config.sso?.type === "OIDC",
  });
  const oidcLogin = config.sso?.oidc
    ? createOidcLogin({
        db,
        clock: () => new Date(),
        publicUrl: config.server.publicUrl,
        settings: {
          clientId: config.sso.oidc.clientId,
          clientSecret: config.sso.oidc.clientCredentials,
          issuerUrl: config.sso.oidc.identityProviderHost,
        },
      })
    : null;
  const {
    stacks,
    contexts,
    spaces,
    access: spaceAccess,
  } = createStacksModule({
    db,
    encryptor,
    clock: () => new Date(),
    // VCS comes after stacks: `vcsIntegrationId` is checked through this port.
    vcsIntegrations: { spaceOf: (id) => vcs.stackIntegrations.spaceOf(id) },
    branchHeads: { headOf: (stack) => vcs.branchHead(stack) },
    allowLocalRepositories: config.repositories.allowLocal,
  });
  // Policies: OPA embedded as a child process (started on first use) unless
  // STACKYARD_OPA_URL names a server; decisions reach auth, runs and VCS through ports.
  const policies = createPoliciesModule({
    db,
    access: spaceAccess,
    stacks,
    storage,
    samplesBucket: config.objectStorage.buckets.policyInputs,
    opaUrl: config.policies.opaUrl,
    opaMemoryLimitMiB: config.policies.opaMemoryLimitMiB,
    binDir: config.toolchain.binDir,
    timeoutsMs: config.policies.timeoutsMs,
    publicUrl: config.server.publicUrl,
    clock: () => new Date(),
    log,
  });
  const workers = createWorkerService({
    db,
    encryptor,
    transport,
    log,
    clock: () => new Date(),
    heartbeatTimeoutSeconds: config.workers.heartbeatTimeoutSeconds,
    namespace: config.mqtt.namespace,
    serverUrl: config.server.publicUrl,
    brokerEndpoint: config.mqtt.endpoint,
    // Workers never import runs: the runs module is told about lost workers here.
    onWorkersGone: (workerIds, reason) =>
      runs.reconciler.failRunsOfWorkers(workerIds, reason),
    disconnectPool: broker
      ? (poolId) => broker.disconnectPool(poolId)
      : undefined,
  });
  // State comes after runs in the module order; runs gets its credential issuer injected.
  const state = createStateService({
    db,
    storage,
    encryptor,
    bucket: config.objectStorage.buckets.states,
    privateKey: signingKey,
    publicUrl: config.server.publicUrl,
    log,
    // Users outside the platform on stacks with external state access.
    access: spaceAccess,
  });
  // User-facing state operations (history, download/upload URLs, import, rollback).
  const stateOps = createStateOperations({
    state,
    stacks,
    access: spaceAccess,
    storage,
    encryptor,
    uploadsBucket: config.objectStorage.buckets.uploads,
    privateKey: signingKey,
    publicUrl: config.server.publicUrl,
    log,
  });
  const runs = createRunsModule({
    db,
    access: spaceAccess,
    stacks,
    syncTrackedCommit: (session, stackId) =>
      stacks.syncCommit(session, stackId),
    clock: () => new Date(),
    log,
    limits: config.runs,
    // Plan and approval policies; runs never import the policies module.
    policies: {
      decidePlan: async (run) =>
        policies.decisions.decidePlan(
          run,
          (await runs.plans?.readPlanDocument(run.id)) ?? null,
        ),
      approvalRequired: (stackId) =>
        policies.decisions.approvalRequired(stackId),
      decideApproval: (run, reviews, since) =>
        policies.decisions.decideApproval(run, reviews, since),
    },
    execution: {
      stacks,
      state,
      workerSlots: { claimIdleWorker, releaseWorker },
      transport,
      namespace: config.mqtt.namespace,
      apiUrl: config.server.publicUrl,
      privateKey: signingKey,
      storage,
      buckets: {
        runLogs: config.objectStorage.buckets.runLogs,
        workspaces: config.objectStorage.buckets.workspaces,
      },
      // GitHub/GitLab stacks clone through their VCS integration (VCS comes after runs);
      // the URL may carry a token and is sealed into run.assign.
      cloneUrls: {
        resolveCloneUrl: (stack) => vcs.cloneUrls.resolveCloneUrl(stack),
      },
      // spacectl `stack local-preview`: uploads kept a day, encrypted.
      localPreviews: {
        encryptor,
        bucket: config.objectStorage.buckets.userUploadedWorkspaces,
      },
      // Run identity tokens (OIDC workload identity), minted here with the instance key.
      identity: createRunIdentityIssuer({
        signer,
        publicUrl: config.server.publicUrl,
      }),
    },
  });

  // Every URL the server calls on a user's behalf goes through the egress guard.
  const egress = createEgressGuard({ allow: config.egress.allow });

  // VCS comes last: it reaches runs only through this port (runs never import it); run
  // transitions reach it through the run_transitions trigger of migration 0009.
  const vcs = createVcsModule({
    db,
    encryptor,
    access: spaceAccess,
    runs: vcsRunsPort(runs.service),
    // VCS provider adapters by kind: GitHub App and GitLab (stateless but for GitHub's
    // per-process installation token cache).
    adapters: opts.vcsAdapters ?? {
      GITHUB: createGithubAdapter({ fetch: egress.fetch }),
      GITLAB: createGitlabAdapter({ fetch: egress.fetch }),
    },
    egress,
    log,
    clock: () => new Date(),
    dataDir: config.dataDir,
    publicUrl: config.server.publicUrl,
    webhooksEndpoint: config.server.webhooksEndpoint,
    // GIT_PUSH policies attached to a stack replace the default push behaviour.
    pushDecider: createPushPolicyDecider(policies.evaluation, decidePush),
    // Push policy rules: lock/unlock and notrigger's tracked commit through the stacks
    // module, `flag` into the policies module's run flags (in the run's insert tx).
    stacks: vcsStacksPort(stacks),
    recordRunFlags: createPushFlagRecorder(() => new Date()),
  });

  return {
    signer,
    config,
    log,
    database,
    db,
    storage,
    encryptor,
    metrics,
    broker,
    transport,
    auth,
    identity,
    userSessions,
    oidcLogin,
    stacks,
    contexts,
    spaces,
    spaceAccess,
    workers,
    runs,
    state,
    stateOps,
    vcs,
    /** The SQS backend when MESSAGE_QUEUE_TYPE=sqs; null: the Postgres queue. */
    sqsQueue,
    /** Where queue payloads over 256 KiB live (the drain reads them from here). */
    largeMessages,
    /** Enqueue for producers of unbounded payloads (webhook deliveries). */
    enqueue,
    readiness: [
      { name: "database", check: () => pingDatabase(db) },
      { name: "storage", check: () => storage.ping() },
      {
        name: "broker",
        check: async () => {
          if (!transport.isHealthy())
            throw new Error("the MQTT broker is not connected");
        },
      },
    ],
    policies,
    /** Jobs of the policies module, with trigger policies starting runs through runs. */
    policyJobs: policies.jobs(policyTriggerPort(runs.service)),
    async close() {
      await policies.stop();
      await database.close();
    },
  };
}

export type App = Awaited<ReturnType<typeof createApp>>;

/**
 * The runs module's actions as the VCS module needs them. VCS-triggered runs act as the
 * identity `vcs/<provider>/<author>` with admin rights (the provider already decided who
 * may push); a superseded run is canceled if it has not started, else stopped, and left
 * alone once it is past both (applying, finished).
 */
export function vcsRunsPort(
  service: Pick<
    RunService,
    "triggerFromVcs" | "cancel" | "stop" | "prioritize"
  >,
): VcsRunsPort {
  const identity = (name: string) =>
    ({ kind: "user", id: "vcs", name, admin: true }) as const;
  return {
    async createRun(input, inTx) {
      const run = await service.triggerFromVcs(
        identity(input.triggeredBy),
        {
          stackId: input.stackId,
          runType: input.runType,
          commitSha: input.commitSha,
          commit: input.commit,
          branch: input.branch,
          note: input.note,
          lockId: input.lockId,
          prioritized: input.prioritized,
        },
        (tx, created) => inTx(tx, created.id),
      );
      return { id: run.id };
    },
    // Push policy `cancel`: the runs module's own action and rules.
    async cancelRun(ref, note) {
      await service.cancel(identity("vcs/push-policy"), { ...ref, note });
    },
    async stopRun(ref, note) {
      const session = identity("vcs");
      try {
        await service.cancel(session, { ...ref, note });
        return;
      } catch (err) {
        if (!(err instanceof RunActionNotAllowedError)) throw err;
      }
      try {
        await service.stop(session, { ...ref, note });
      } catch (err) {
        if (!(err instanceof RunActionNotAllowedError)) throw err;
      }
    },
  };
}

/**
 * The stacks module's actions as the VCS push pipeline needs them for push policy rules:
 * system locks held by the policy's lock id, and the tracked commit set as the VCS
 * identity (`vcs/<provider>/<author>`).
 */
export function vcsStacksPort(
  stacks: Pick<
    StackService,
    "lockForSystem" | "unlockForSystem" | "setCurrentCommit"
  >,
): VcsStacksPort {
  return {
    lock: (stackId, holder, note) =>
      stacks.lockForSystem(stackId, holder, note),
    unlock: (stackId, holder) => stacks.unlockForSystem(stackId, holder),
    async setTrackedCommit(stackId, sha, setBy) {
      await stacks.setCurrentCommit(
        { kind: "user", id: "vcs", name: setBy, admin: true },
        stackId,
        sha,
      );
    },
  };
}

/**
 * How trigger policies start runs: with the policy's own space rights (WRITE in its
 * space and those below it), never as an administrator, and not as the ended run's
 * actor; in the new run's insert transaction.
 */
export function policyTriggerPort(
  service: Pick<RunService, "triggerFromPolicy">,
): TriggerRunPort {
  return async ({ policy, stackId, note, inTx }) => {
    const session: Session = {
      kind: "policy",
      id: policy.id,
      name: `policy::${policy.id}`,
      admin: false,
      policyGrants: { [policy.spaceId]: "WRITE" },
    };
    const run = await service.triggerFromPolicy(
      session,
      { stackId, note },
      (tx, created) => inTx(tx, created.id),
    );
    return { id: run.id };
  };
}
