import type { WorkerStatus } from "../../platform/db/index.ts";

export type { WorkerStatus };

export interface WorkerPool {
  id: string;
  name: string;
  description: string;
  spaceId: string;
  labels: string[];
  isDefault: boolean;
  createdAt: Date;
}

/**
 * A launcher process as the server last saw it. `status` is what the worker reported
 * (IDLE, BUSY, DRAINED) or GONE once it unregistered or stopped heartbeating; `drained`
 * is the operator's wish, which the worker acknowledges by reporting DRAINED when idle.
 */
export interface Worker {
  id: string;
  poolId: string;
  status: WorkerStatus;
  drained: boolean;
  metadata: Record<string, string>;
  version: string;
  /** When the current session registered (reset on every re-register). */
  registeredAt: Date;
  lastHeartbeatAt: Date;
  goneAt: Date | null;
  goneReason: string | null;
  /** The run the worker holds (set when a run is handed to it, cleared when freed). */
  currentRunId: string | null;
}
