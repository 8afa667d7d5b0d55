import type { RunTransition } from "@stackyard/api-client";
import { getSession } from "../../graphql/session.ts";

export interface RunEventHandlers {
  onTransition(t: RunTransition): void;
  onLog(text: string, t: RunTransition): void;
}

/** Whether the browser can follow runs over Server-Sent Events. */
export function canStreamRunEvents(): boolean {
  // SSO sessions (cookie, no JWT) follow runs through GraphQL polling.
  return typeof EventSource !== "undefined" && Boolean(getSession()?.jwt);
}

/**
 * Follows a run over the server's SSE channel
 * (`GET /api/v1/stacks/:stackId/runs/:runId/events`). EventSource cannot set headers,
 * so the session first goes to `POST /api/v1/run-events/session`, which sets an HttpOnly
 * cookie scoped to those paths: the token never appears in a URL.
 * Resolves on the server's `end` event; rejects on any error (the connection is closed
 * rather than retried, so the caller can fall back to GraphQL polling).
 */
export function streamRunEvents(
  ids: { stack: string; run: string },
  events: RunEventHandlers,
  signal: AbortSignal,
): Promise<void> {
  const jwt = getSession()?.jwt;
  if (!jwt) return Promise.reject(new Error("no session"));
  return fetch("/api/v1/run-events/session", {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}` },
    signal,
  }).then((res) => {
    if (!res.ok)
      throw new Error(
        `the live update channel refused the session (${res.status})`,
      );
    return followRunEvents(ids, events, signal);
  });
}

function followRunEvents(
  ids: { stack: string; run: string },
  events: RunEventHandlers,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const url =
      `/api/v1/stacks/${encodeURIComponent(ids.stack)}/runs/` +
      `${encodeURIComponent(ids.run)}/events`;
    const source = new EventSource(url);
    const byVersion = new Map<number, RunTransition>();
    const finish = (err?: Error) => {
      source.close();
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(new Error("aborted"));
    signal.addEventListener("abort", onAbort);
    source.addEventListener("transition", (e) => {
      const t = JSON.parse((e as MessageEvent<string>).data) as RunTransition;
      byVersion.set(t.stateVersion, t);
      events.onTransition(t);
    });
    source.addEventListener("log", (e) => {
      const m = JSON.parse((e as MessageEvent<string>).data) as {
        state: RunTransition["state"];
        stateVersion: number;
        message: string;
      };
      const t = byVersion.get(m.stateVersion) ?? {
        hasLogs: true,
        note: null,
        state: m.state,
        stateVersion: m.stateVersion,
        terminal: false,
        timestamp: Math.floor(Date.now() / 1000),
        username: null,
      };
      events.onLog(m.message, t);
    });
    source.addEventListener("end", () => finish());
    source.addEventListener("error", () =>
      finish(new Error("the live update channel failed")),
    );
  });
}
