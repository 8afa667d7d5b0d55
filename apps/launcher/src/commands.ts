import { LauncherConfigError } from "./config.ts";
import { LauncherAuthError } from "./connection.ts";
import { runLauncher, type LauncherHandle } from "./main.ts";

/**
 * `stackyard launcher`: runs until SIGINT/SIGTERM (graceful: take no new runs, let the
 * current one finish within STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS, then stop and
 * report it, unregister, disconnect, exit 0; a second signal stops the run at once), a
 * server cycle (after the current run, exit 0) or a revoked credential (exit 1). Started
 * as a child with an IPC channel (`stackyard up`), it also stops when the channel
 * disconnects, i.e. when the parent died, so no launcher is left orphaned, and reports its
 * sandbox to the parent before it connects (`{ type: "stackyard.sandbox", ...SandboxReport }`).
 * Returns the exit code.
 */
export async function launcherCommand(
  env: Record<string, string | undefined>,
): Promise<number> {
  const abort = new AbortController();
  let launcher: LauncherHandle | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!abort.signal.aborted) abort.abort(`received ${signal}`);
    else void launcher?.stop({ graceMs: 0, reason: `received ${signal}` });
  };
  const onParentGone = () => abort.abort("parent process exited");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (process.send) {
    // The channel must not keep the process alive once the launcher is done.
    process.channel?.unref();
    process.on("disconnect", onParentGone);
  }
  try {
    launcher = await runLauncher({ env, signal: abort.signal });
    // `stackyard up` tells its operator (terminal and web UI) when runs are not isolated.
    // The parent may be gone already: a closed channel is not the launcher's failure.
    if (process.send && process.connected && launcher.sandbox)
      process.send(
        { type: "stackyard.sandbox", ...launcher.sandbox },
        undefined,
        {},
        () => undefined,
      );
    const exit = await launcher.closed;
    return exit.code;
  } catch (err) {
    if (abort.signal.aborted) return 0;
    if (
      err instanceof LauncherConfigError ||
      err instanceof LauncherAuthError
    ) {
      process.stderr.write(`stackyard launcher: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("disconnect", onParentGone);
  }
}
