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
  configureLargeMessages,
  createSqsQueueBackend,
} from "./platform/queue/index.ts";
import { createMetricsRegistry } from "./platform/http/http-server.ts";
import type { Logger } from "./platform/log/logger.ts";
import { AppError } from "./platform/errors.ts";
import { BuiltinBroker } from "./platform/broker/builtin-broker.ts";
import {
  InProcessTransport,
  MqttClientTransport,
  type WorkerTransport,
} from "./platform/broker/worker-transport.ts";
import { createAuthService, createTokenSigner } from "./modules/auth/index.ts";
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
import { createStacksModule } from "./modules/stacks/index.ts";
import type { Registry } from "prom-client";

export class UnsupportedConfigurationError extends AppError {
  override readonly code = "UNSUPPORTED_CONFIGURATION";
}

/**
 * The composition root: builds every part once, in dependency order (platform, then
 * modules in the order of docs/architecture.md), and hands the result to the roles.
 * Nothing here starts background work; roles do.
 */
export async function createApp(
  config: Config,
  opts: { databaseUrl: string; log: Logger },
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

  // ENCRYPTION_TYPE: what wraps the data key and signs tokens (the RSA key, or KMS keys).
  // `signingKey` is passed as `privateKey` below; in KMS mode it signs through KMS.
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
  configureLargeMessages({
    store: storage,
    bucket: config.objectStorage.buckets.largeQueueMessages,
  });

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
  const auth = createAuthService({ db, signer, admin: config.admin });
  const {
    stacks,
    contexts,
    spaces,
    access: spaceAccess,
  } = createStacksModule({ db, encryptor, clock: () => new Date() });
  const workers = createWorkerService({
    db,
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
    clock: () => new Date(),
    log,
    limits: config.runs,
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
    },
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
    stacks,
    contexts,
    spaces,
    spaceAccess,
    workers,
    runs,
    state,
    stateOps,
    /** The SQS backend when MESSAGE_QUEUE_TYPE=sqs; null: the Postgres queue. */
    sqsQueue,
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
    async close() {
      await database.close();
    },
  };
}

export type App = Awaited<ReturnType<typeof createApp>>;
