import type { RunTransition } from "@stackyard/api-client";
import { StateBadge } from "../../components/StateBadge.tsx";
import { formatDuration, formatTimestamp } from "../../components/time.ts";

/** Each state the run went through, how long it stayed there, and who moved it on. */
export function RunTimeline({
  transitions,
  now,
}: {
  transitions: RunTransition[];
  now: number;
}) {
  if (transitions.length === 0) return <p className="muted">No states yet.</p>;
  return (
    <ol className="timeline">
      {transitions.map((t, i) => {
        const next = transitions[i + 1];
        const current = !next && !t.terminal;
        const seconds = next
          ? next.timestamp - t.timestamp
          : current
            ? now / 1000 - t.timestamp
            : null;
        return (
          <li
            key={`${t.state}:${t.stateVersion}`}
            className={current ? "current" : undefined}
          >
            <StateBadge state={t.state} />
            <span className="timeline-meta">
              <time dateTime={new Date(t.timestamp * 1000).toISOString()}>
                {formatTimestamp(t.timestamp)}
              </time>
              {seconds !== null && (
                <span>
                  {current ? "for " : ""}
                  {formatDuration(seconds)}
                  {current ? " so far" : ""}
                </span>
              )}
              {t.username && <span>by {t.username}</span>}
            </span>
            {t.note && <span className="timeline-note">{t.note}</span>}
          </li>
        );
      })}
    </ol>
  );
}
