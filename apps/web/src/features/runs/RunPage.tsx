import { useEffect, useRef, useState } from "react";
import {
  followRun,
  RUN_CANCEL,
  RUN_CONFIRM,
  RUN_DISCARD,
  RUN_PAGE,
  RUN_RETRY,
  RUN_STOP,
  type RunDetails,
  type RunTransition,
} from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { StateBadge } from "../../components/StateBadge.tsx";
import { formatRelative } from "../../components/time.ts";
import { api, friendlyError, useQuery } from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import {
  ACTION_LABELS,
  shownRunActions,
  type RunAction,
} from "./run-actions.ts";
import { RunReviewPanel } from "../policies/RunReviewPanel.tsx";
import { PlanDiff } from "./PlanDiff.tsx";
import { RunLogs, type PhaseLog } from "./RunLogs.tsx";
import { RunTimeline } from "./RunTimeline.tsx";
import { canStreamRunEvents, streamRunEvents } from "./run-events.ts";

const ACTION_MUTATIONS: Record<RunAction, string> = {
  confirm: RUN_CONFIRM,
  discard: RUN_DISCARD,
  cancel: RUN_CANCEL,
  stop: RUN_STOP,
  retry: RUN_RETRY,
};

type Live = "following" | "ended" | "error";

/**
 * Follows the run over the server's SSE channel (run-events.ts) when the browser has
 * EventSource; if that fails, with the api-client's `followRun`, the spacectl log
 * protocol: it polls the state history and pages each phase's logs with their resume
 * token (about every 0.5–2 s).
 */
function useFollowedRun(stack: string, run: string, attempt: number) {
  const [transitions, setTransitions] = useState<RunTransition[]>([]);
  const [phases, setPhases] = useState<PhaseLog[]>([]);
  const [live, setLive] = useState<Live>("following");
  const [liveError, setLiveError] = useState<string | null>(null);

  useEffect(() => {
    const ctl = new AbortController();
    setTransitions([]);
    setPhases([]);
    setLive("following");
    setLiveError(null);
    const handlers = {
      onTransition: (t: RunTransition) => {
        if (ctl.signal.aborted) return;
        setTransitions((ts) => [
          ...ts.filter(
            (x) => x.state !== t.state || x.stateVersion !== t.stateVersion,
          ),
          t,
        ]);
      },
      onLog: (text: string, t: RunTransition) => {
        if (ctl.signal.aborted) return;
        const key = `${t.state}:${t.stateVersion}`;
        setPhases((ps) => {
          const i = ps.findIndex((p) => p.key === key);
          if (i < 0) return [...ps, { key, state: t.state, text }];
          const copy = ps.slice();
          const p = copy[i];
          if (p) copy[i] = { ...p, text: p.text + text };
          return copy;
        });
      },
    };
    const poll = () =>
      followRun(api, { stack, run }, handlers, {
        follow: true,
        signal: ctl.signal,
        pollMs: 500,
      });
    // The SSE channel when the browser has EventSource; on any error, start over with
    // GraphQL polling (which replays the history and logs from the beginning).
    const followed: Promise<unknown> = canStreamRunEvents()
      ? streamRunEvents({ stack, run }, handlers, ctl.signal).catch(() => {
          ctl.signal.throwIfAborted();
          setTransitions([]);
          setPhases([]);
          return poll();
        })
      : poll();
    followed.then(
      () => {
        if (!ctl.signal.aborted) setLive("ended");
      },
      (err: unknown) => {
        if (ctl.signal.aborted) return;
        setLive("error");
        setLiveError(friendlyError(err));
      },
    );
    return () => ctl.abort();
  }, [stack, run, attempt]);

  return { transitions, phases, live, liveError };
}

export function RunPage({
  stackId,
  runId,
}: {
  stackId: string;
  runId: string;
}) {
  const [attempt, setAttempt] = useState(0);
  const followed = useFollowedRun(stackId, runId, attempt);
  const q = useQuery(RUN_PAGE, { stack: stackId, run: runId });
  const [follow, setFollow] = useState(true);
  const [now, setNow] = useState(Date.now());
  const { transitions, phases, live } = followed;
  const latest = transitions[transitions.length - 1];

  // Refresh the run's details (plan summary, retry flag) whenever its state changes.
  const reload = q.reload;
  const latestKey = latest ? `${latest.state}:${latest.stateVersion}` : "";
  const seenKey = useRef("");
  useEffect(() => {
    if (latestKey && latestKey !== seenKey.current) {
      seenKey.current = latestKey;
      void reload();
    }
  }, [latestKey, reload]);

  useEffect(() => {
    if (live !== "following") return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [live]);

  const stack = q.data?.stack;
  const run = stack?.run;
  if (q.loading && !q.data) return <Loading what="the run" />;
  if (q.error && !q.data) return <ErrorNote>{q.error}</ErrorNote>;
  if (!stack || !run)
    return (
      <>
        <h1>Run not found</h1>
        <p>
          There is no run {runId} on stack{" "}
          <Link to={paths.stack(stackId)}>{stackId}</Link>.
        </p>
      </>
    );

  // The page's query and the live follower both know the history; show whichever is
  // further along (the follower replays an old run from its first state).
  const queried = [...run.history].reverse();
  const newestQueried = queried[queried.length - 1];
  const timeline =
    newestQueried &&
    (!latest || newestQueried.stateVersion > latest.stateVersion)
      ? queried
      : transitions;
  const state = timeline[timeline.length - 1]?.state ?? run.state;
  return (
    <>
      <p className="crumbs">
        <Link to={paths.stacks()}>Stacks</Link> /{" "}
        <Link to={paths.stack(stack.id)}>{stack.name}</Link> / Run
      </p>
      <div className="page-head">
        <div>
          <h1 className="with-badge">
            <span>
              {run.commit.message
                ? run.commit.message.split("\n")[0]
                : `${run.type.charAt(0)}${run.type.slice(1).toLowerCase()} run`}
            </span>
            <span data-testid="run-state">
              <StateBadge state={state} />
            </span>
          </h1>
          <p className="muted">
            <span className="mono">{run.id}</span> · {run.type.toLowerCase()}{" "}
            run · {formatRelative(run.createdAt)}
            {run.triggeredBy ? ` · triggered by ${run.triggeredBy}` : ""}
            {run.commit.hash ? (
              <>
                {" "}
                · commit{" "}
                <span className="mono">{run.commit.hash.slice(0, 8)}</span>
              </>
            ) : null}
          </p>
        </div>
        <RunActions
          stackId={stack.id}
          run={run}
          state={state}
          onDone={() => void q.reload()}
        />
      </div>
      {state === "UNCONFIRMED" && (
        <p className="note note-attention" role="status">
          The plan is ready. Review the changes below, then confirm to apply
          them or discard the run.
        </p>
      )}

      {/* Policy decisions and approval reviews (features/policies). */}
      <RunReviewPanel
        stackId={stack.id}
        runId={run.id}
        state={state}
        onReviewed={() => void q.reload()}
      />

      <div className="run-grid">
        <section aria-labelledby="logs-title" className="run-logs">
          <div className="section-head">
            <h2 id="logs-title">Logs</h2>
            <span className="live" role="status">
              {live === "following" ? (
                <>
                  <span className="pulse" aria-hidden="true" /> Live
                </>
              ) : live === "ended" ? (
                "Run ended"
              ) : (
                "Live updates stopped"
              )}
            </span>
            <button
              type="button"
              className="button small"
              aria-pressed={follow}
              onClick={() => setFollow((f) => !f)}
              title="Keep the newest log line in view"
            >
              {follow ? "Following" : "Follow"}
            </button>
          </div>
          {live === "error" && (
            <ErrorNote>
              {followed.liveError}{" "}
              <button
                type="button"
                className="button small"
                onClick={() => setAttempt((a) => a + 1)}
              >
                Reconnect
              </button>
            </ErrorNote>
          )}
          <RunLogs
            phases={phases}
            follow={follow}
            onFollowChange={setFollow}
            live={live === "following"}
          />
        </section>
        <aside className="run-side">
          <section aria-labelledby="plan-title">
            <h2 id="plan-title">Plan</h2>
            <PlanSummary run={run} />
          </section>
          <section aria-labelledby="timeline-title">
            <h2 id="timeline-title">Timeline</h2>
            <RunTimeline transitions={timeline} now={now} />
          </section>
        </aside>
      </div>
      <section aria-labelledby="diff-title" className="card run-diff">
        <h2 id="diff-title">Resource changes</h2>
        <PlanDiff stackId={stack.id} runId={run.id} version={state} />
      </section>
    </>
  );
}

function RunActions({
  stackId,
  run,
  state,
  onDone,
}: {
  stackId: string;
  run: RunDetails;
  state: string;
  onDone(): void;
}) {
  const [pending, setPending] = useState<RunAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The server's actions hold for the state it read; while the live state has moved on
  // (the page reloads the run on every state change), none are offered.
  const actions =
    run.state === state ? shownRunActions(run.allowedActions) : [];

  async function act(action: RunAction) {
    setPending(action);
    setError(null);
    try {
      const data = await api.request<Record<string, { id: string }>>(
        ACTION_MUTATIONS[action],
        {
          stack: stackId,
          run: run.id,
          ...(action === "stop" ? { note: "Stopped from the web UI" } : {}),
        },
      );
      if (action === "retry") {
        const next = Object.values(data)[0];
        if (next) navigate(paths.run(stackId, next.id));
      }
      onDone();
    } catch (err) {
      setError(friendlyError(err));
    } finally {
      setPending(null);
    }
  }

  if (actions.length === 0 && !error) return null;
  return (
    <div className="run-actions">
      <div className="actions" role="group" aria-label="Run actions">
        {actions.map((a) => (
          <button
            key={a}
            type="button"
            className={`button ${a === "confirm" || a === "retry" ? "primary" : a === "discard" || a === "stop" ? "danger" : ""}`}
            disabled={pending !== null}
            title={ACTION_LABELS[a].help}
            onClick={() => void act(a)}
          >
            {pending === a ? ACTION_LABELS[a].pending : ACTION_LABELS[a].label}
          </button>
        ))}
      </div>
      <ErrorNote>{error}</ErrorNote>
    </div>
  );
}

const CHANGE_TONE: Record<string, string> = {
  ADDED: "ok",
  CREATE: "ok",
  CHANGED: "attention",
  UPDATE: "attention",
  DELETED: "bad",
  DELETE: "bad",
  REPLACED: "bad",
};

function PlanSummary({ run }: { run: RunDetails }) {
  const resources = run.changesV3.flatMap((g) => g.resources);
  if (!run.delta && resources.length === 0)
    return (
      <p className="muted">
        {run.finished
          ? "No plan was recorded for this run."
          : "The plan appears here once planning is done."}
      </p>
    );
  return (
    <>
      {run.delta && (
        <p className="delta" data-testid="plan-delta">
          <span className="delta-add">+{run.delta.addCount} to add</span>
          <span className="delta-change">
            ~{run.delta.changeCount} to change
          </span>
          <span className="delta-delete">
            −{run.delta.deleteCount} to destroy
          </span>
        </p>
      )}
      {resources.length > 0 && (
        <ul className="changes">
          {resources.map((r) => (
            <li key={`${r.address}:${r.metadata.type}`}>
              <span
                className={`tag tone-${CHANGE_TONE[r.metadata.type.toUpperCase()] ?? "muted"}`}
              >
                {r.metadata.type.toLowerCase()}
              </span>{" "}
              <span className="mono">{r.address}</span>
              {r.previousAddress && r.previousAddress !== r.address && (
                <span className="muted"> (was {r.previousAddress})</span>
              )}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
