import type { Logger } from "./logger.ts";

type ProcessEvents = Pick<NodeJS.Process, "on" | "removeListener">;

/**
 * Keeps a server process serving after an error nothing caught: an exception thrown from
 * a callback (`uncaughtException`) or a promise rejected with no handler
 * (`unhandledRejection`). Without these handlers Node exits, and one bad request or
 * timer takes every role down with it. The error is logged with its cause chain and the
 * process carries on; state owned by the failed callback is the caller's to clean up
 * (requests time out, jobs are retried by the queue).
 *
 * Installed by the long-running commands (`server`, `up`) only, never on import. Returns
 * a function that removes the handlers.
 */
export function installProcessErrorHandlers(
  log: Pick<Logger, "error">,
  proc: ProcessEvents = process,
): () => void {
  const onException = (err: unknown, origin: string) => {
    log.error(
      { err, origin },
      "unexpected error outside any request or job; still serving",
    );
  };
  const onRejection = (reason: unknown) => {
    log.error({ err: reason }, "unhandled promise rejection; still serving");
  };
  proc.on("uncaughtException", onException);
  proc.on("unhandledRejection", onRejection);
  return () => {
    proc.removeListener("uncaughtException", onException);
    proc.removeListener("unhandledRejection", onRejection);
  };
}
