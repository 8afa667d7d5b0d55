import { LauncherConfigError } from "./config.ts";
import { LauncherAuthError } from "./connection.ts";
import { runLauncher } from "./main.ts";

/**
 * `stackyard launcher`: runs until SIGINT/SIGTERM (graceful: unregister, disconnect,
 * exit 0), a server cycle (exit 0) or a revoked credential (exit 1). Started as a child
 * with an IPC channel (`stackyard up`), it also stops when the channel disconnects, i.e.
 * when the parent died, so no launcher is left orphaned. Returns the exit code.
 */
export async function launcherCommand(
  env: Record<string, string | undefined>,
): Promise<number> {
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    abort.abort(`received ${signal}`);
  const onParentGone = () => abort.abort("parent process exited");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  if (process.send) {
    // The channel must not keep the process alive once the launcher is done.
    process.channel?.unref();
    process.on("disconnect", onParentGone);
  }
  try {
    const launcher = await runLauncher({ env, signal: abort.signal });
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
