import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

export interface LogOptions {
  level: string;
  format: "auto" | "json" | "pretty";
  /** Base fields on every line, e.g. { process: "server" }. */
  base?: Record<string, unknown>;
}

/**
 * Redaction paths shared by every logger: secrets must never reach a log line even
 * when a whole object is logged by mistake.
 */
export const REDACT_PATHS = [
  "password",
  "secret",
  "token",
  "privateKey",
  "*.password",
  "*.secret",
  "*.token",
  "*.privateKey",
  "req.headers.authorization",
  "req.headers.cookie",
];

/**
 * JSON lines on stdout (what log collectors expect); pino-pretty only when stdout is a
 * TTY and the format is "auto", or when "pretty" is asked for explicitly.
 */
export function createLogger(opts: LogOptions): Logger {
  const pretty =
    opts.format === "pretty" ||
    (opts.format === "auto" && process.stdout.isTTY === true);
  const options: LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid, ...opts.base },
    redact: { paths: REDACT_PATHS, censor: "<redacted>" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
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
