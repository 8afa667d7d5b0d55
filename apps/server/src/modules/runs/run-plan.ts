import {
  parseExact,
  planDocumentSchema,
  stringifyExact,
  type PlanDocument,
  type PlanDocumentUpload,
} from "@stackyard/protocol";
import type { Logger } from "../../platform/log/logger.ts";
import {
  ObjectNotFoundError,
  type BlobStore,
} from "../../platform/storage/index.ts";
import type { RunRecord } from "./run-repo.ts";

export type { PlanDocument, PlanResourceChange } from "@stackyard/protocol";

/** Object key of a run's plan document in the run-logs bucket (beside its archived logs). */
export const planDocumentKey = (runId: string) => `${runId}/plan.json`;

export interface RunPlanDocumentsDeps {
  storage: Pick<BlobStore, "get" | "put">;
  /** config.objectStorage.buckets.runLogs: plan documents live as long as the run's logs. */
  bucket: string;
  log: Logger;
}

/**
 * The plan document of a run: the masked `resource_changes` and `terraform_version` of
 * `tofu show -json`, uploaded by the worker after a successful plan (PUT
 * /worker/v1/runs/:runId/plan) and read by the run page's diff and `changesV3`, and by
 * plan policies, as `input.terraform`. Values tofu marks sensitive and the run's
 * secrets were replaced on the worker; the server never sees them.
 *
 * One document per run: a later plan of the same run (a replan) replaces it. An upload
 * naming an assignment other than the run's current one is acknowledged and ignored, as
 * every worker report is.
 */
export function createRunPlanDocuments(deps: RunPlanDocumentsDeps) {
  const log = deps.log.child({ module: "runs", component: "plan-documents" });

  return {
    /** Stores the upload of the worker holding `run`; false when it was ignored. */
    async storePlanDocument(
      run: Pick<RunRecord, "id" | "workerAssignment">,
      upload: PlanDocumentUpload,
    ): Promise<{ stored: boolean; reason?: string }> {
      if (run.workerAssignment !== upload.assignment)
        return {
          stored: false,
          reason: `assignment ${upload.assignment} is no longer current (the run's is ${run.workerAssignment ?? "none"})`,
        };
      await deps.storage.put(
        deps.bucket,
        planDocumentKey(run.id),
        stringifyExact(upload.document),
        { contentType: "application/json" },
      );
      log.info(
        { runId: run.id, resources: upload.document.resource_changes.length },
        "plan document stored",
      );
      return { stored: true };
    },

    /**
     * The run's plan document, or null when it has none (no successful plan yet, a
     * launcher from before plan documents, or the object expired with the run's logs).
     * A stored object that fails the schema is logged and treated as absent.
     */
    async readPlanDocument(runId: string): Promise<PlanDocument | null> {
      let body: Buffer;
      try {
        body = await deps.storage.get(deps.bucket, planDocumentKey(runId));
      } catch (err) {
        if (err instanceof ObjectNotFoundError) return null;
        throw new Error(`reading the plan document of run ${runId}`, {
          cause: err,
        });
      }
      let parsed: unknown;
      try {
        parsed = parseExact(body.toString("utf8"));
      } catch (err) {
        log.error({ err, runId }, "stored plan document is not JSON");
        return null;
      }
      const result = planDocumentSchema.safeParse(parsed);
      if (!result.success) {
        log.error(
          { runId, issues: result.error.issues.slice(0, 5) },
          "stored plan document does not match the schema",
        );
        return null;
      }
      return result.data;
    },
  };
}

export type RunPlanDocuments = ReturnType<typeof createRunPlanDocuments>;
