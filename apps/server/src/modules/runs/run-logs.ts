import type { Database } from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import {
  WRITING_STATES,
  isTerminal,
  type RunState,
} from "../run-status/index.ts";
import * as logRepo from "./run-log-repo.ts";
import type { LogChunk } from "./run-log-repo.ts";
import type { RunRecord } from "./run-repo.ts";

/**
 * Run logs: storage of the chunks workers report, and the paged reads behind
 * `Run.logs` (graphql-compat §3).
 *
 * Storage. Chunks live in `run_log_chunks` while the run is alive: appends are one
 * idempotent INSERT, and readers see each chunk as soon as it is committed. Once the run
 * has ended for ARCHIVE_AFTER_MS (late retries of the worker have arrived by then),
 * `runs.archiveLogs` writes each state version's chunks to ONE object in the run-logs
 * bucket, `<runId>/<stateVersion>.ndjson` (one `{"seq","at","text"}` line per chunk, so
 * chunk boundaries and therefore paging tokens survive the move), merged with any
 * object already there, and only then deletes exactly the rows it wrote. A chunk that
 * arrives after that stays in the table, and readers of an ended run merge the object
 * with the table: nothing is lost and nothing is served twice.
 *
 * Paging. A message is one chunk's text, served verbatim (it ends in "\n"). The token is
 * opaque (base64 of the next seq to serve). While the run is still in the state, only the
 * contiguous run of chunks from the token on is served, so a chunk that arrives late
 * (seq 2 after seq 3) is never skipped; once the run has left the state, whatever is
 * stored is served in seq order. `hasMore` says more can be fetched right now;
 * `finished` = the run left the state and everything stored was served. The token never
 * goes back to null and is returned unchanged when nothing new arrived.
 */

/** Messages per page, and the most text a page carries (it always carries one message). */
export const LOG_PAGE_MESSAGES = 100;
const LOG_PAGE_BYTES = 1024 * 1024;
/** How long after a run ended its log chunks stay in the table. */
export const ARCHIVE_AFTER_MS = 5 * 60 * 1000;
/** State versions one archive pass moves. */
const ARCHIVE_BATCH = 200;

/** States a worker writes logs in (the WRITING_STATES); `Run.history[].hasLogs` is false for the others. */
export const LOG_STATES: ReadonlySet<RunState> = new Set(WRITING_STATES);

export interface RunLogsPage {
  exists: boolean;
  expired: boolean;
  finished: boolean;
  hasMore: boolean;
  messages: { message: string; timestamp: number }[];
  nextToken: string | null;
}

export function encodeLogToken(nextSeq: number): string {
  return Buffer.from(`seq:${nextSeq}`).toString("base64url");
}

export function decodeLogToken(token: string | null | undefined): number {
  if (!token) return 0;
  const match = /^seq:(\d{1,9})$/.exec(
    Buffer.from(token, "base64url").toString("utf8"),
  );
  if (!match?.[1])
    throw new ValidationError(
      "invalid logs token: pass the nextToken of the previous page, or null to start",
    );
  return Number(match[1]);
}

export function archiveKey(runId: string, stateVersion: number): string {
  return `${runId}/${stateVersion}.ndjson`;
}

function toNdjson(chunks: readonly LogChunk[]): string {
  return chunks
    .map(
      (c) =>
        `${JSON.stringify({ seq: c.seq, at: c.createdAt.toISOString(), text: c.text })}\n`,
    )
    .join("");
}

function fromNdjson(text: string): LogChunk[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const raw = JSON.parse(line) as { seq: number; at: string; text: string };
      return { seq: raw.seq, text: raw.text, createdAt: new Date(raw.at) };
    });
}

/** Union by seq, in seq order; the first list wins a duplicate (they are identical anyway). */
function mergeChunks(
  a: readonly LogChunk[],
  b: readonly LogChunk[],
): LogChunk[] {
  const bySeq = new Map<number, LogChunk>();
  for (const c of [...a, ...b]) if (!bySeq.has(c.seq)) bySeq.set(c.seq, c);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq);
}

export function createRunLogs(deps: {
  db: Database;
  storage: Pick<BlobStore, "get" | "head" | "put">;
  bucket: string;
  clock: () => Date;
  log: Logger;
}) {
  const { db, storage, bucket, clock } = deps;
  const log = deps.log.child({ module: "runs", component: "logs" });

  async function readArchive(
    runId: string,
    stateVersion: number,
  ): Promise<LogChunk[]> {
    const key = archiveKey(runId, stateVersion);
    if (!(await storage.head(bucket, key))) return [];
    return fromNdjson((await storage.get(bucket, key)).toString("utf8"));
  }

  return {
    /**
     * One page of the logs of (run, state, stateVersion). `left` is whether the run has
     * left that state (RunService.hasLeftState), computed by the caller on the run it
     * authorised. Without a version, the newest time the run entered `state` is read.
     */
    async read(
      run: Pick<RunRecord, "id" | "state">,
      args: {
        state: RunState;
        stateVersion?: number | null;
        token?: string | null;
        left: boolean;
      },
    ): Promise<RunLogsPage> {
      const from = decodeLogToken(args.token);
      const version =
        args.stateVersion ??
        (await logRepo.findLatestStateVersion(db, run.id, args.state));
      const empty: RunLogsPage = {
        exists: false,
        expired: false,
        finished: args.left,
        hasMore: false,
        messages: [],
        nextToken: args.token ?? "",
      };
      if (version === null) return empty;
      const rows = await logRepo.listLogChunks(
        db,
        run.id,
        version,
        from,
        LOG_PAGE_MESSAGES + 1,
      );
      const chunks = isTerminal(run.state)
        ? mergeChunks(
            rows,
            (await readArchive(run.id, version)).filter((c) => c.seq >= from),
          )
        : rows;
      const messages: RunLogsPage["messages"] = [];
      let next = from;
      let bytes = 0;
      let hasMore = false;
      for (const chunk of chunks) {
        // While the state is live, a gap is a chunk still on its way: stop before it.
        if (!args.left && chunk.seq !== next) break;
        if (
          messages.length >= LOG_PAGE_MESSAGES ||
          (messages.length > 0 && bytes + chunk.text.length > LOG_PAGE_BYTES)
        ) {
          hasMore = true;
          break;
        }
        messages.push({
          message: chunk.text,
          timestamp: Math.floor(chunk.createdAt.getTime() / 1000),
        });
        bytes += chunk.text.length;
        next = chunk.seq + 1;
      }
      return {
        exists: from > 0 || chunks.length > 0,
        expired: false,
        finished: args.left && !hasMore,
        hasMore,
        messages,
        nextToken:
          messages.length > 0 || args.token ? encodeLogToken(next) : "",
      };
    },

    /** Whether any chunk of (run, stateVersion) is stored in the table (live runs only). */
    hasChunks: (runId: string, stateVersion: number) =>
      logRepo.hasLogChunks(db, runId, stateVersion),

    /** Moves chunks of runs ended ARCHIVE_AFTER_MS ago to the bucket; returns state versions moved. */
    async archiveEnded(): Promise<number> {
      const endedBefore = new Date(clock().getTime() - ARCHIVE_AFTER_MS);
      const targets = await logRepo.findArchivableLogs(
        db,
        endedBefore,
        ARCHIVE_BATCH,
      );
      for (const { runId, stateVersion } of targets) {
        const rows = await logRepo.listAllLogChunks(db, runId, stateVersion);
        if (rows.length === 0) continue;
        const merged = mergeChunks(
          rows,
          await readArchive(runId, stateVersion),
        );
        // The object first: rows are deleted only once their text is safely stored.
        await storage.put(
          bucket,
          archiveKey(runId, stateVersion),
          toNdjson(merged),
          { contentType: "application/x-ndjson" },
        );
        await logRepo.deleteLogChunks(
          db,
          runId,
          stateVersion,
          rows.map((r) => r.seq),
        );
      }
      if (targets.length > 0)
        log.debug({ count: targets.length }, "archived run log states");
      return targets.length;
    },
  };
}

export type RunLogs = ReturnType<typeof createRunLogs>;
