import { ApiError, type ApiClient } from "./client.ts";
import {
  RUN_HISTORY,
  RUN_LOGS,
  type RunLogsResult,
  type RunTransition,
} from "./operations.ts";

export interface FollowEvents {
  onTransition(t: RunTransition): void;
  /** A chunk of log text (printed verbatim) of the state `t`, its phase. */
  onLog(text: string, t: RunTransition): void;
  /** Called on each idle poll with the seconds spent waiting in the current state. */
  onWaiting?(state: string, seconds: number): void;
  /**
   * Return true to stop following before the run ends (e.g. to confirm it). Asked of
   * the run's current state only, never of states it has already left.
   */
  shouldStop?(t: RunTransition): boolean;
}

/**
 * Follows a run the way spacectl's log explorer does: poll the history (newest first,
 * walked oldest first), and for each new state with logs, page through them with the
 * resume token until the state's stream is finished. Resolves with the last transition
 * seen: a terminal one, or the one `shouldStop` accepted. Polling backs off to 2 s.
 * A current state whose first log chunk has not arrived yet (`hasLogs` false) is
 * announced once and streamed as soon as a later poll reports logs for it.
 * `signal` ends the loop early, rejecting with the signal's reason.
 */
export async function followRun(
  client: ApiClient,
  ids: { stack: string; run: string },
  events: FollowEvents,
  opts: { pollMs?: number; follow?: boolean; signal?: AbortSignal } = {},
): Promise<RunTransition> {
  const announced = new Set<string>();
  const done = new Set<string>();
  const pollMs = opts.pollMs ?? 500;
  const signal = opts.signal;
  let last: RunTransition | null = null;
  let waitingSince = Date.now();
  for (;;) {
    signal?.throwIfAborted();
    const data = await client.request(RUN_HISTORY, ids);
    const history = data.stack?.run?.history;
    if (!history)
      throw new ApiError(
        `run ${ids.run} of stack ${ids.stack} not found`,
        "NOT_FOUND",
      );
    let progressed = false;
    const oldestFirst = [...history].reverse();
    for (const [i, t] of oldestFirst.entries()) {
      const key = `${t.state}:${t.stateVersion}`;
      if (done.has(key)) continue;
      const newest = i === oldestFirst.length - 1;
      const fresh = !announced.has(key);
      if (fresh) {
        announced.add(key);
        progressed = true;
        last = t;
        events.onTransition(t);
      }
      // The newest, still running state may have logs that are not stored yet.
      if (!t.hasLogs && newest && !t.terminal) {
        if (fresh && events.shouldStop?.(t)) return t;
        break;
      }
      done.add(key);
      if (t.hasLogs) {
        await streamState(client, ids, t, events, signal);
        progressed = true;
      }
      if (t.terminal || (newest && events.shouldStop?.(t))) return t;
    }
    if (!opts.follow && last) return last;
    if (progressed) waitingSince = Date.now();
    else if (last)
      events.onWaiting?.(
        last.state,
        Math.round((Date.now() - waitingSince) / 1000),
      );
    await sleep(progressed ? 0 : Math.min(pollMs * 4, 2000), signal);
  }
}

async function streamState(
  client: ApiClient,
  ids: { stack: string; run: string },
  t: RunTransition,
  events: FollowEvents,
  signal: AbortSignal | undefined,
): Promise<void> {
  let token: string | null = null;
  for (let idle = 0; ; ) {
    signal?.throwIfAborted();
    const data: RunLogsResult = await client.request(RUN_LOGS, {
      ...ids,
      state: t.state,
      stateVersion: t.stateVersion,
      token,
    });
    const page = data.stack?.run?.logs;
    if (!page) return;
    for (const m of page.messages) events.onLog(m.message, t);
    token = page.nextToken;
    if (page.finished) return;
    if (!page.hasMore) {
      idle = Math.min(idle + 1, 4);
      await sleep(250 * idle, signal);
    } else idle = 0;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
