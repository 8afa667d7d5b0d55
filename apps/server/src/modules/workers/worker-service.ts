import type { WorkerServiceDeps } from "./worker-service-deps.ts";
import { createWorkerLifecycle } from "./worker-lifecycle.ts";
import { createWorkerPoolAdmin } from "./worker-pools.ts";

export { hashCredential, type IssuedPoolToken } from "./worker-pools.ts";
export type { WorkerServiceDeps } from "./worker-service-deps.ts";

/**
 * The workers module's service: pools and their credentials (worker-pools.ts) and the
 * live worker lifecycle over MQTT, registration, heartbeats, expiry, drain and cycle
 * (worker-lifecycle.ts).
 */
export function createWorkerService(deps: WorkerServiceDeps) {
  return {
    ...createWorkerPoolAdmin(deps),
    ...createWorkerLifecycle(deps),
  };
}

export type WorkerService = ReturnType<typeof createWorkerService>;
