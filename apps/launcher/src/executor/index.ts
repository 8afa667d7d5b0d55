/**
 * The run executor: executes one phase of a run (plan, apply, perform, destroy) and
 * reports state changes, masked log lines and the outcome. `run-spec.ts` is the
 * contract shared with future Docker/Kubernetes executors and mirrored in
 * packages/protocol; `createProcessExecutor` runs phases as local child processes.
 * It owns run directories under the launcher's work dir (see ../workspace) and the
 * processes it starts; it knows nothing of MQTT, the server or log shipping.
 */
export type * from "./run-spec.ts";
export {
  createProcessExecutor,
  DEFAULT_HOST_PATH,
  type ProcessExecutorOptions,
} from "./process-executor.ts";
export { probeSandbox, type SandboxStatus } from "./sandbox.ts";
