import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/**
 * JSON lines on stdout; pino-pretty when asked for, or for "auto" on a TTY. The pool
 * credential and token must never reach a log line, whatever object is logged.
 */
export function createLauncherLogger(opts: {
  level: string;
  format: "auto" | "json" | "pretty";
}): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid, process: "launcher" },
    redact: {
      paths: [
        "credential",
        "token",
        "password",
        "*.credential",
        "*.token",
        "*.password",
      ],
      censor: "<redacted>",
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty =
    opts.format === "pretty" ||
    (opts.format === "auto" && process.stdout.isTTY === true);
  if (pretty) {
    return pino({
      ...options,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, ignore: "pid,hostname" },
      },
    });
  }
  return pino(options);
}
