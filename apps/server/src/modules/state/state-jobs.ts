import { z } from "zod";
import { defineJob, type JobCatalog } from "../../platform/queue/index.ts";
import type { StateService } from "./state-service.ts";

/**
 * `state.collectOrphans` (payload `{}`), enqueued daily by the scheduler: deletes state
 * versions superseded more than 30 days ago (never the current one), then objects in the
 * states bucket that no version points to and that are older than an hour. Idempotent:
 * a duplicate or retried run deletes what is left.
 */
export function stateJobs(
  service: Pick<StateService, "expireVersions" | "collectOrphans">,
  clock: () => Date = () => new Date(),
): JobCatalog {
  return {
    "state.collectOrphans": defineJob(z.object({}), async (_payload, ctx) => {
      const now = clock();
      const expired = await service.expireVersions(now);
      const orphans = await service.collectOrphans(now);
      if (expired > 0 || orphans.length > 0)
        ctx.log.info(
          { expiredVersions: expired, orphanObjects: orphans.length },
          "state housekeeping deleted old versions and orphaned objects",
        );
    }),
  };
}
