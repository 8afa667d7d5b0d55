import type pg from "pg";
import type { Logger } from "../../log/logger.ts";
import type { OutboxMessage, SqsQueueBackend } from "./sqs-backend.ts";

/** One relay at a time: a group's rows must reach SQS in order. */
const RELAY_LOCK_SQL =
  "SELECT pg_try_advisory_xact_lock(hashtext('stackyard.sqs-relay')) AS locked";

const PICK_SQL = `
SELECT id, name, payload, payload_object, group_key, dedup_key, max_receives
FROM queue_messages
WHERE visible_at <= now()
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED`;

interface OutboxRow {
  id: number | string;
  name: string;
  payload: unknown;
  payload_object: string | null;
  group_key: string | null;
  dedup_key: string | null;
  max_receives: number;
}

/**
 * The relay half of the SQS outbox (MESSAGE_QUEUE_TYPE=sqs; see sqs-backend.ts). `enqueue`
 * writes rows to `queue_messages` inside the producer's transaction; the relay, run by the
 * drain role, moves committed rows whose time has come to SQS: in one transaction it locks
 * a batch, sends each row, and deletes the rows that were sent. Rolled-back rows never
 * exist, so they are never sent.
 *
 * At-least-once: if the process dies after a send but before the commit, the rows are sent
 * again by the next pass (FIFO queues drop the duplicate by MessageDeduplicationId within
 * 5 minutes; otherwise the idempotent handler absorbs it).
 *
 * Order: one relay pass runs at a time across all replicas (transaction advisory lock).
 * Rows of one FIFO group are sent one after another in enqueue order, and a failed send
 * stops the rest of that group for this pass; other groups and ungrouped rows are sent
 * concurrently.
 */
export class SqsRelay {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;
  private readonly log: Logger;

  constructor(
    private readonly opts: {
      pgPool: pg.Pool;
      backend: Pick<SqsQueueBackend, "send">;
      log: Logger;
      /** Pass interval when the outbox is empty. */
      pollIntervalMs: number;
      /** Rows per pass. Default 100. */
      batchSize?: number;
      /** Sends at once within a pass. Default 10. */
      concurrency?: number;
    },
  ) {
    this.log = opts.log.child({ component: "sqs-relay" });
  }

  start(): void {
    if (!this.stopped) throw new Error("the SQS relay is already running");
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * One pass: sends up to `batchSize` due rows and deletes them. Returns how many were
   * relayed (0 as well when another replica holds the relay lock).
   */
  async relayOnce(): Promise<number> {
    const client = await this.opts.pgPool.connect();
    try {
      await client.query("BEGIN");
      const lock = await client.query<{ locked: boolean }>(RELAY_LOCK_SQL);
      if (!lock.rows[0]?.locked) {
        await client.query("ROLLBACK");
        return 0;
      }
      const { rows } = await client.query<OutboxRow>(PICK_SQL, [
        this.opts.batchSize ?? 100,
      ]);
      const sent = await this.sendAll(rows.map(toOutbox));
      if (sent.length > 0)
        await client.query(
          "DELETE FROM queue_messages WHERE id = ANY ($1::bigint[])",
          [sent],
        );
      await client.query("COMMIT");
      return sent.length;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Sends the batch; returns the ids that reached SQS. */
  private async sendAll(messages: OutboxMessage[]): Promise<string[]> {
    // Each lane is sent in order: one lane per FIFO group, one per ungrouped row.
    const lanes = new Map<string, OutboxMessage[]>();
    for (const m of messages) {
      const lane = m.groupKey !== null ? `g:${m.groupKey}` : `m:${m.id}`;
      lanes.set(lane, [...(lanes.get(lane) ?? []), m]);
    }
    const queue = [...lanes.values()];
    const sent: string[] = [];
    const worker = async () => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        for (const m of lane) {
          try {
            await this.opts.backend.send(m);
            sent.push(m.id);
          } catch (err) {
            this.log.warn(
              { err, job: m.name, jobId: m.id },
              "sending a queued job to SQS failed; it stays in the outbox and is retried",
            );
            break;
          }
        }
      }
    };
    await Promise.all(
      Array.from({ length: this.opts.concurrency ?? 10 }, worker),
    );
    return sent;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const pass = this.relayOnce().then(
        (n) => this.schedule(n > 0 ? 0 : this.opts.pollIntervalMs),
        (err: unknown) => {
          this.log.warn({ err }, "SQS relay pass failed; will retry");
          this.schedule(this.opts.pollIntervalMs);
        },
      );
      this.running = pass;
      void pass.finally(() => {
        if (this.running === pass) this.running = null;
      });
    }, delayMs);
  }
}

function toOutbox(row: OutboxRow): OutboxMessage {
  return {
    id: String(row.id),
    name: row.name,
    payload: row.payload,
    payloadObject: row.payload_object,
    groupKey: row.group_key,
    dedupKey: row.dedup_key,
    maxReceives: row.max_receives,
  };
}
