/** The colour family of a run or stack state (spec §1.1 filter groups). */
export function stateTone(state: string): string {
  switch (state) {
    case "FINISHED":
      return "ok";
    case "FAILED":
      return "bad";
    case "UNCONFIRMED":
    case "PENDING_REVIEW":
      return "attention";
    case "DISCARDED":
    case "CANCELED":
    case "STOPPED":
    case "SKIPPED":
    case "NONE":
      return "muted";
    case "QUEUED":
    case "READY":
    case "CONFIRMED":
    case "REPLAN_REQUESTED":
      return "waiting";
    default:
      return "active";
  }
}

export function humanState(state: string): string {
  if (state === "NONE") return "No runs yet";
  const s = state.replace(/_/g, " ").toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function StateBadge({ state }: { state: string }) {
  const tone = stateTone(state);
  return (
    <span
      className={`badge badge-${tone}`}
      data-state={state}
      title={state === "NONE" ? "No tracked runs yet" : state}
    >
      {tone === "active" && <span className="pulse" aria-hidden="true" />}
      {humanState(state)}
    </span>
  );
}
