import type { ApiClient } from "./client.ts";
import {
  RUN_HISTORY,
  RUN_LOGS,
  type RunHistoryResult,
  type RunLogsResult,
  type RunTransition,
} from "./operations.ts";

export interface FollowEvents {
  onTransition(t: RunTransition): void;
  onLog(text: string): void;
  /** Called on each idle poll with the seconds spent waiting in the current state. */
  onWaiting?(state: string, seconds: number): void;
  /** Return true to stop following before the run ends (e.g. to confirm it). */
  shouldStop?(t: RunTransition): boolean;
}

/**
 * Follows a run the way spacectl's log explorer does: poll the history (newest first,
 * walked oldest first), and for each new state with logs, page through them with the
 * resume token until the state's stream is finished. Resolves with the last transition
 * seen: a terminal one, or the one `shouldStop` accepted. Polling backs off to 2 s.
 */
export async function followRun(
  client: ApiClient,
  ids: { stack: string; run: string },
  events: FollowEvents,
  opts: { pollMs?: number; follow?: boolean } = {},
): Promise<RunTransition> {
  const seen = new Set<string>();
  const pollMs = opts.pollMs ?? 500;
  let last: RunTransition | null = null;
  let waitingSince = Date.now();
  for (;;) {
    const data = await client.request<RunHistoryResult>(RUN_HISTORY, ids);
    const history = data.stack?.run?.history;
    if (!history)
      throw new Error(`run ${ids.run} of stack ${ids.stack} not found`);
    let progressed = false;
    for (const t of [...history].reverse()) {
      const key = `${t.state}:${t.stateVersion}`;
      if (seen.has(key)) continue;
      seen.add(key);
      progressed = true;
      last = t;
      events.onTransition(t);
      if (t.hasLogs) await streamState(client, ids, t, events);
      if (t.terminal || events.shouldStop?.(t)) return t;
    }
    if (!opts.follow && last) return last;
    if (progressed) waitingSince = Date.now();
    else if (last)
      events.onWaiting?.(
        last.state,
        Math.round((Date.now() - waitingSince) / 1000),
      );
    await sleep(progressed ? 0 : Math.min(pollMs * 4, 2000));
  }
}

async function streamState(
  client: ApiClient,
  ids: { stack: string; run: string },
  t: RunTransition,
  events: FollowEvents,
): Promise<void> {
  let token: string | null = null;
  for (let idle = 0; ; ) {
    const data: RunLogsResult = await client.request<RunLogsResult>(RUN_LOGS, {
      ...ids,
      state: t.state,
      stateVersion: t.stateVersion,
      token,
    });
    const page = data.stack?.run?.logs;
    if (!page) return;
    for (const m of page.messages) events.onLog(m.message);
    token = page.nextToken;
    if (page.finished) return;
    if (!page.hasMore) {
      idle = Math.min(idle + 1, 4);
      await sleep(250 * idle);
    } else idle = 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
