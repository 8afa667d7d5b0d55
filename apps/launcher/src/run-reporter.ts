import type { RunEvent, RunLogChunk } from "@stackyard/protocol";
import type { RunStatePhase } from "./executor/index.ts";
import type { Logger } from "./log.ts";
import { WorkerApiError, type WorkerApiClient } from "./worker-api-client.ts";

export interface RunReporterOptions {
  /** A chunk is sent at most this long after its first line; default 200 ms. */
  flushMs?: number;
  /** A chunk is sent once it holds this many bytes; default 64 KiB. */
  chunkBytes?: number;
}

type Report =
  | { kind: "logs"; chunk: RunLogChunk }
  | { kind: "event"; event: RunEvent };

/**
 * Ships one phase's state changes and log lines to the worker API, in order.
 *
 * Invariant: reports leave in the order they happened, one request in flight at a
 * time, each retried until acknowledged (see WorkerApiClient). Lines are batched into
 * chunks of whole lines ("\n"-terminated) per state, numbered 0, 1, 2, ... per state
 * within the assignment; a chunk closes after `flushMs`, at `chunkBytes`, or when the
 * state changes (the state event follows that state's last chunk). drain() resolves
 * once everything queued was acknowledged, so a result posted after it can never
 * overtake a log line.
 *
 * A report the server refuses (4xx) is logged and skipped. Once a report exhausted its
 * retries (the server is gone for minutes), the rest of the phase's logs are dropped
 * with one warning, so a long outage costs one retry budget, not one per chunk.
 */
export class RunReporter {
  readonly #seq = new Map<RunStatePhase, number>();
  readonly #flushMs: number;
  readonly #chunkBytes: number;
  #open: { state: RunStatePhase; lines: string[]; bytes: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #tail: Promise<void> = Promise.resolve();
  #unreachable = false;
  #droppedLines = 0;

  constructor(
    private readonly api: Pick<WorkerApiClient, "postLogs" | "postEvent">,
    private readonly assignment: number,
    private readonly log: Logger,
    opts: RunReporterOptions = {},
  ) {
    this.#flushMs = opts.flushMs ?? 200;
    this.#chunkBytes = opts.chunkBytes ?? 64 * 1024;
  }

  state(state: RunStatePhase): void {
    this.#close();
    this.#enqueue({
      kind: "event",
      event: { type: "state", assignment: this.assignment, state },
    });
  }

  line(state: RunStatePhase, line: string): void {
    if (this.#open && this.#open.state !== state) this.#close();
    const text = `${line.replace(/\r?\n/g, " ")}\n`;
    this.#open ??= { state, lines: [], bytes: 0 };
    this.#open.lines.push(text);
    this.#open.bytes += Buffer.byteLength(text);
    if (this.#open.bytes >= this.#chunkBytes) this.#close();
    else
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        this.#close();
      }, this.#flushMs);
  }

  /** Sends what is buffered and resolves when every report was acknowledged or given up. */
  async drain(): Promise<void> {
    this.#close();
    await this.#tail;
    if (this.#droppedLines > 0)
      this.log.warn(
        { droppedLines: this.#droppedLines },
        "run log lines were dropped: the worker API stayed unreachable",
      );
  }

  #close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const open = this.#open;
    this.#open = null;
    if (!open || open.lines.length === 0) return;
    const seq = this.#seq.get(open.state) ?? 0;
    this.#seq.set(open.state, seq + 1);
    this.#enqueue({
      kind: "logs",
      chunk: {
        assignment: this.assignment,
        state: open.state,
        seq,
        text: open.lines.join(""),
      },
    });
  }

  #enqueue(report: Report): void {
    this.#tail = this.#tail.then(() => this.#send(report));
  }

  async #send(report: Report): Promise<void> {
    if (this.#unreachable) {
      if (report.kind === "logs")
        this.#droppedLines += report.chunk.text.split("\n").length - 1;
      return;
    }
    try {
      if (report.kind === "logs") await this.api.postLogs(report.chunk);
      else await this.api.postEvent(report.event);
    } catch (err) {
      // WorkerApiClient already logged why.
      if (err instanceof WorkerApiError && err.retriesExhausted) {
        this.#unreachable = true;
        if (report.kind === "logs")
          this.#droppedLines += report.chunk.text.split("\n").length - 1;
      } else if (!(err instanceof WorkerApiError)) {
        this.log.error({ err }, "sending a run report failed");
      }
    }
  }
}
