import { z } from "zod";
import { defineJob, type JobCatalog } from "../../platform/queue/index.ts";
import type { WorkerService } from "./worker-service.ts";

/**
 * `workers.expire` (payload `{}`): marks workers without a recent heartbeat as GONE.
 * Enqueued periodically by the scheduler; idempotent, so a duplicate run is harmless.
 */
export function workerJobs(
  service: Pick<WorkerService, "expireWorkers">,
): JobCatalog {
  return {
    "workers.expire": defineJob(z.object({}), async (_payload, ctx) => {
      const ids = await service.expireWorkers(new Date());
      if (ids.length > 0)
        ctx.log.info({ workerIds: ids }, "expired silent workers");
    }),
  };
}
