import type { Config } from "./platform/config/index.ts";
import {
  createDatabase,
  checkPostgresVersion,
  migrateToLatest,
  pingDatabase,
  type DatabaseHandle,
} from "./platform/db/index.ts";
import {
  createRsaKeyWrapper,
  loadDataKey,
  loadOrCreateRsaKey,
  type Encryptor,
} from "./platform/crypto/index.ts";
import { createFsBlobStore, type BlobStore } from "./platform/storage/index.ts";
import { configureLargeMessages } from "./platform/queue/index.ts";
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
import { createStateService } from "./modules/state/index.ts";
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

  if (config.encryption.type !== "rsa") {
    await closeOnError(
      new UnsupportedConfigurationError(
        "ENCRYPTION_TYPE=kms is not available in this build yet; use ENCRYPTION_TYPE=rsa",
      ),
    );
  }
  const { privateKey } = await loadOrCreateRsaKey({
    configuredPemBase64: config.encryption.rsaPrivateKey,
    dataDir: config.dataDir,
  }).catch(closeOnError);
  const encryptor: Encryptor = await loadDataKey(
    db,
    createRsaKeyWrapper(privateKey),
  ).catch(closeOnError);

  if (config.objectStorage.type !== "filesystem") {
    await closeOnError(
      new UnsupportedConfigurationError(
        `OBJECT_STORAGE_TYPE=${config.objectStorage.type} is not available in this build yet; use filesystem`,
      ),
    );
  }
  const storage: BlobStore = createFsBlobStore(config.objectStorage.directory);
  await storage
    .ensureBuckets(Object.values(config.objectStorage.buckets))
    .catch(closeOnError);
  configureLargeMessages({
    store: storage,
    bucket: config.objectStorage.buckets.largeQueueMessages,
  });

  if (config.messageQueue.type !== "postgres") {
    await closeOnError(
      new UnsupportedConfigurationError(
        "MESSAGE_QUEUE_TYPE=sqs is not available in this build yet; use postgres",
      ),
    );
  }

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
    privateKey,
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
    privateKey,
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
      privateKey,
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
