import { useEffect, useId, useState } from "react";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { useQuery } from "../../graphql/api.ts";
import {
  RUN_PLAN_CHANGES,
  type PlanResourceChange,
} from "../../graphql/operations.ts";
import {
  actionLabel,
  diffRows,
  isNoop,
  SENSITIVE,
  UNKNOWN,
  type DiffRow,
} from "./plan-diff.ts";

/** Resources rendered at first; more on request, so a 10,000-resource plan stays quick. */
const PAGE = 100;

/**
 * The plan's per-resource diff: one collapsed row per changed resource with its action
 * badge; expanding one shows its attributes before and after, key by key. Unchanged
 * resources are hidden behind a toggle. `version` changes whenever the run moves, so a
 * plan that just finished shows up without a reload.
 */
export function PlanDiff({
  stackId,
  runId,
  version,
}: {
  stackId: string;
  runId: string;
  version: string;
}) {
  const q = useQuery(RUN_PLAN_CHANGES, {
    stack: stackId,
    run: runId,
  });
  const reload = q.reload;
  useEffect(() => {
    if (version) void reload();
  }, [version, reload]);
  const [showUnchanged, setShowUnchanged] = useState(false);
  const [shown, setShown] = useState(PAGE);

  if (q.loading && !q.data) return <Loading what="the planned changes" />;
  if (q.error && !q.data) return <ErrorNote>{q.error}</ErrorNote>;
  const all = q.data?.stack?.run?.stackyardPlanChanges ?? [];
  if (all.length === 0)
    return (
      <p className="muted" data-testid="plan-diff-empty">
        No per-resource changes are recorded for this run yet. They appear after
        a successful plan.
      </p>
    );
  const unchanged = all.filter((c) => isNoop(c.actions)).length;
  const visible = showUnchanged ? all : all.filter((c) => !isNoop(c.actions));
  return (
    <div className="plan-diff" data-testid="plan-diff">
      <div className="plan-diff-head">
        <span className="muted">
          {all.length - unchanged} changing
          {unchanged > 0 ? `, ${unchanged} unchanged` : ""}
        </span>
        {unchanged > 0 && (
          <button
            type="button"
            className="button small"
            aria-pressed={showUnchanged}
            onClick={() => setShowUnchanged((s) => !s)}
          >
            {showUnchanged ? "Hide unchanged" : "Show unchanged"}
          </button>
        )}
      </div>
      {visible.length === 0 ? (
        <p className="muted">This plan changes no resource.</p>
      ) : (
        <ul className="resource-list">
          {visible.slice(0, shown).map((c) => (
            <ResourceChange key={c.address} change={c} />
          ))}
        </ul>
      )}
      {visible.length > shown && (
        <button
          type="button"
          className="button small"
          onClick={() => setShown((n) => n + PAGE)}
        >
          Show {Math.min(PAGE, visible.length - shown)} more of{" "}
          {visible.length - shown}
        </button>
      )}
    </div>
  );
}

function ResourceChange({ change }: { change: PlanResourceChange }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const { label, tone } = actionLabel(change.actions);
  return (
    <li className="resource-change" data-address={change.address}>
      <button
        type="button"
        className="resource-toggle"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((o) => !o)}
      >
        <span className="chevron" aria-hidden="true">
          {open ? "▾" : "▸"}
        </span>
        <span className={`tag tone-${tone}`} data-testid="resource-action">
          {label}
        </span>
        <span className="mono break">{change.address}</span>
        {change.previousAddress &&
          change.previousAddress !== change.address && (
            <span className="muted">
              {" "}
              (moved from {change.previousAddress})
            </span>
          )}
      </button>
      {open && (
        <div id={panelId} className="resource-detail">
          <p className="muted">
            {change.type} · {change.providerName}
          </p>
          <AttributeDiff rows={diffRows(change.before, change.after)} />
        </div>
      )}
    </li>
  );
}

const KIND_LABEL: Record<DiffRow["kind"], string> = {
  added: "added",
  removed: "removed",
  changed: "changed",
  same: "unchanged",
};

function AttributeDiff({ rows }: { rows: DiffRow[] }) {
  if (rows.length === 0)
    return <p className="muted">No attributes on either side.</p>;
  return (
    <div className="table-wrap">
      <table className="table compact attr-diff">
        <thead>
          <tr>
            <th scope="col">Attribute</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.path} className={`diff-${r.kind}`}>
              <th scope="row" className="mono break">
                {r.path || "(value)"}
                <span className="visually-hidden"> ({KIND_LABEL[r.kind]})</span>
              </th>
              <td>
                <Value value={r.before} />
              </td>
              <td>
                <Value value={r.after} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Value({ value }: { value: string | undefined }) {
  if (value === undefined) return <span className="muted">—</span>;
  if (value === SENSITIVE)
    return (
      <span className="tag" title="Marked sensitive; the value is not shown">
        (sensitive)
      </span>
    );
  if (value === UNKNOWN)
    return <span className="muted">(known after apply)</span>;
  return <span className="mono break">{value}</span>;
}
