import { useEffect, useState } from "react";
import { ErrorNote } from "../../components/Notice.tsx";
import { formatTimestamp } from "../../components/time.ts";
import { useMutation, useQuery } from "../../graphql/api.ts";
import {
  RUN_APPROVAL,
  RUN_REVIEW,
  type RunReviewRecord,
} from "./policy-operations.ts";
import { policyDecisions, type PolicyDecision } from "./policy-text.ts";
import "./policies.css";

/** States in which a run waits for its approval policies (the runs module's rule). */
const AWAITING = new Set(["QUEUED", "UNCONFIRMED", "PENDING_REVIEW"]);

const DECISION_LABEL: Record<PolicyDecision["kind"], string> = {
  warn: "Plan policy warning",
  deny: "Denied by a plan policy",
  error: "Policy evaluation failed",
  approval: "Approval policy",
};

/**
 * The policy side of a run: the decisions its policies wrote into the run's history
 * (plan warnings and denials, approval verdicts), and while the run waits for approval,
 * Approve and Reject with an optional note. A review is only recorded; the approval
 * policies judge it in the background, so the panel polls until the run moves on.
 */
export function RunReviewPanel({
  stackId,
  runId,
  state,
  onReviewed,
}: {
  stackId: string;
  runId: string;
  /** The run's live state, so the panel refreshes when it changes. */
  state: string;
  onReviewed(): void;
}) {
  const [polling, setPolling] = useState(false);
  const q = useQuery(
    RUN_APPROVAL,
    { stack: stackId, run: runId },
    polling ? { pollMs: 2000 } : {},
  );
  const review = useMutation(RUN_REVIEW);
  const [note, setNote] = useState("");
  const reload = q.reload;
  useEffect(() => {
    void reload();
  }, [state, reload]);

  const run = q.data?.stack?.run;
  const waiting =
    !!run &&
    (run.state === "PENDING_REVIEW" ||
      (run.needsApproval && AWAITING.has(run.state)));
  useEffect(() => setPolling(waiting), [waiting]);

  if (!run) return q.error ? <ErrorNote>{q.error}</ErrorNote> : null;
  const decisions = policyDecisions([...run.history].reverse());
  const given: RunReviewRecord[] = run.stackyardReviews;
  if (!waiting && decisions.length === 0 && given.length === 0) return null;

  async function decide(decision: "APPROVE" | "REJECT") {
    const r = await review.mutate({
      stack: stackId,
      run: runId,
      decision,
      note: note.trim() || null,
    });
    if (r) {
      setNote("");
      onReviewed();
      void reload();
    }
  }

  return (
    <section
      className="card"
      aria-labelledby="policy-decisions-title"
      data-testid="run-policies"
    >
      <h2 id="policy-decisions-title">Policies</h2>
      {decisions.length > 0 && (
        <ul className="decisions" data-testid="policy-decisions">
          {decisions.map((d, i) => (
            <li
              key={i}
              className={`note ${d.kind === "warn" ? "note-attention" : d.kind === "approval" && !/reject/i.test(d.messages.join(" ")) ? "" : "note-error"}`}
            >
              <strong>{DECISION_LABEL[d.kind]}</strong>
              <span className="muted"> ({d.state.toLowerCase()})</span>
              <ul>
                {d.messages.map((m, j) => (
                  <li key={j}>{m}</li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      )}
      {waiting && (
        <p className="note note-attention" role="status">
          {run.state === "PENDING_REVIEW"
            ? "This proposed run had plan policy warnings and waits for a review."
            : run.state === "QUEUED"
              ? "This run waits for approval before it starts."
              : "This run waits for approval before it can be confirmed."}{" "}
          Its approval policies decide once reviews are in.
        </p>
      )}
      {given.length > 0 && (
        <ul className="decisions" data-testid="run-reviews">
          {given.map((r) => (
            <li
              key={r.id}
              className={`note ${r.decision === "APPROVE" ? "" : "note-error"}`}
            >
              <span
                className={`tag ${r.decision === "APPROVE" ? "tone-ok" : "tone-bad"}`}
              >
                {r.decision === "APPROVE" ? "approved" : "rejected"}
              </span>{" "}
              by {r.author} at {formatTimestamp(r.timestamp)} (
              {r.state.toLowerCase()}){r.note && <div>{r.note}</div>}
            </li>
          ))}
        </ul>
      )}
      {given.length > 0 && !waiting && run.needsApproval === false && (
        <p className="muted" role="status">
          The approval policies approved this run.
        </p>
      )}
      {waiting && q.data?.stack?.canWrite && (
        <div className="review-box">
          <div className="field">
            <label htmlFor="review-note">Review note (optional)</label>
            <textarea
              id="review-note"
              value={note}
              rows={2}
              onChange={(e) => setNote(e.target.value)}
            />
          </div>
          <div className="actions" role="group" aria-label="Review">
            <button
              type="button"
              className="button primary"
              disabled={review.pending}
              onClick={() => void decide("APPROVE")}
            >
              {review.pending ? "Sending review…" : "Approve"}
            </button>
            <button
              type="button"
              className="button danger"
              disabled={review.pending}
              onClick={() => void decide("REJECT")}
            >
              Reject
            </button>
          </div>
          <ErrorNote>{review.error}</ErrorNote>
        </div>
      )}
    </section>
  );
}
