import { useEffect, useRef } from "react";
import { AnsiText } from "../../components/AnsiText.tsx";
import { humanState } from "../../components/StateBadge.tsx";

export interface PhaseLog {
  key: string;
  state: string;
  text: string;
}

/**
 * The run's logs, one section per phase (INITIALIZING, PLANNING, APPLYING, …). While
 * `follow` is on the view sticks to the newest line; scrolling up turns it off.
 */
export function RunLogs({
  phases,
  follow,
  onFollowChange,
  live,
}: {
  phases: PhaseLog[];
  follow: boolean;
  onFollowChange(follow: boolean): void;
  live: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const programmatic = useRef(false);

  useEffect(() => {
    const el = box.current;
    if (!follow || !el) return;
    programmatic.current = true;
    el.scrollTop = el.scrollHeight;
  }, [phases, follow]);

  function onScroll() {
    const el = box.current;
    if (!el) return;
    if (programmatic.current) {
      programmatic.current = false;
      return;
    }
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (follow && !atBottom) onFollowChange(false);
    else if (!follow && atBottom && live) onFollowChange(true);
  }

  return (
    <div
      className="log"
      ref={box}
      onScroll={onScroll}
      tabIndex={0}
      role="log"
      aria-label="Run logs"
      aria-live="off"
      data-testid="run-logs"
    >
      {phases.length === 0 ? (
        <p className="log-empty">
          {live ? "Waiting for the first log lines…" : "This run has no logs."}
        </p>
      ) : (
        phases.map((p) => (
          <section key={p.key} className="log-phase" data-phase={p.state}>
            <h3 className="log-phase-title">{humanState(p.state)}</h3>
            <pre>
              <AnsiText text={p.text} />
            </pre>
          </section>
        ))
      )}
    </div>
  );
}
