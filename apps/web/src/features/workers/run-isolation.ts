/**
 * Which live workers execute runs without a sandbox, from the `sandbox` tag every
 * launcher sets on itself: "bubblewrap", "none (runs refused)" or
 * "none (runs unsandboxed)". Workers of older launchers (no tag) and GONE workers are
 * left out.
 */
export interface UnsandboxedWorker {
  poolName: string;
  workerId: string;
  /** The runs still execute, unsandboxed (STACKYARD_UNSANDBOXED_RUNS=true). */
  runsAllowed: boolean;
}

export function unsandboxedWorkers(
  pools: ReadonlyArray<{
    name: string;
    workers: ReadonlyArray<{
      id: string;
      metadata: string;
      status?: string | null;
    }>;
  }>,
): UnsandboxedWorker[] {
  const found: UnsandboxedWorker[] = [];
  for (const pool of pools)
    for (const worker of pool.workers) {
      if (worker.status === "GONE") continue;
      let tag: unknown;
      try {
        tag = (JSON.parse(worker.metadata) as Record<string, unknown>).sandbox;
      } catch {
        continue;
      }
      if (typeof tag !== "string" || !tag.startsWith("none")) continue;
      found.push({
        poolName: pool.name,
        workerId: worker.id,
        runsAllowed: tag.includes("unsandboxed"),
      });
    }
  return found;
}
