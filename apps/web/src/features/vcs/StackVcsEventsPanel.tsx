import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative, formatTimestamp } from "../../components/time.ts";
import { useQuery } from "../../graphql/api.ts";
import { Link, paths } from "../../routes/router.tsx";
import "../policies/policies.css";
import { STACK_VCS_EVENTS, type VcsEvent } from "./vcs-operations.ts";

const OUTCOME_TONE: Record<string, string> = {
  TRACKED: "tone-ok",
  PROPOSED: "tone-ok",
  IGNORED: "",
};

/**
 * The stack's recent VCS events (webhooks and raw git polls, kept 7 days), newest first,
 * each with what it did: the run it started, or why nothing ran.
 */
export function StackVcsEventsPanel({ stackId }: { stackId: string }) {
  const q = useQuery(
    STACK_VCS_EVENTS,
    { stack: stackId, limit: 20 },
    { pollMs: 10_000 },
  );
  const events = q.data?.stackyardVcsEvents ?? [];
  if (q.loading && !q.data) return <Loading what="VCS events" />;
  return (
    <>
      <ErrorNote>{q.error}</ErrorNote>
      {events.length === 0 && !q.error ? (
        <p className="muted">
          No pushes or pull requests in the last 7 days. Raw git repositories
          are polled; GitHub and GitLab send webhooks through their{" "}
          <Link to={paths.integrations()}>integration</Link>.
        </p>
      ) : (
        <ul className="vcs-events" data-testid="stack-vcs-events">
          {events.map((e) => (
            <li key={e.id} data-outcome={e.outcome}>
              <div className="vcs-event-head">
                <span className={`tag ${OUTCOME_TONE[e.outcome] ?? ""}`}>
                  {e.outcome.toLowerCase()}
                </span>
                <EventTitle event={e} />
                {e.runId && (
                  <Link
                    to={paths.run(stackId, e.runId)}
                    className="mono"
                    aria-label={`Run ${e.runId}`}
                  >
                    run {e.runId.slice(-8)}
                  </Link>
                )}
                <span className="muted nowrap">
                  <time
                    dateTime={new Date(e.receivedAt * 1000).toISOString()}
                    title={formatTimestamp(e.receivedAt)}
                  >
                    {formatRelative(e.receivedAt)}
                  </time>{" "}
                  · {e.source === "POLL" ? "poll" : "webhook"}
                </span>
              </div>
              <div className="vcs-reason">{e.reason}</div>
              <div className="muted mono truncate">{e.repository}</div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function EventTitle({ event: e }: { event: VcsEvent }) {
  const sha = e.sha ? <span className="mono"> {e.sha.slice(0, 8)}</span> : null;
  if (e.kind === "pull_request")
    return (
      <span>
        Pull request{e.pullRequest !== null ? ` #${e.pullRequest}` : ""}
        {e.branch ? ` from ${e.branch}` : ""}
        {sha}
      </span>
    );
  return (
    <span>
      Push to {e.tag ? `tag ${e.tag}` : (e.branch ?? "?")}
      {sha}
    </span>
  );
}
