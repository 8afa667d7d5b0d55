import { useEffect, useState } from "react";
import {
  RUN_TRIGGER,
  STACK_LOCK,
  STACK_PAGE,
  STACK_UNLOCK,
  type StackDetails,
} from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { StateBadge } from "../../components/StateBadge.tsx";
import { formatRelative } from "../../components/time.ts";
import { useMutation, useQuery } from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import { EnvironmentPanel } from "./EnvironmentPanel.tsx";
import { StackContextsPanel } from "./StackContextsPanel.tsx";
import { StackPoliciesPanel } from "../policies/StackPoliciesPanel.tsx";
import { StackVcsEventsPanel } from "../vcs/StackVcsEventsPanel.tsx";
import { StateDownloadButton } from "./StateDownloadButton.tsx";
import { StateHistoryPanel } from "./StateHistoryPanel.tsx";

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "state", label: "State" },
] as const;
type TabId = (typeof TABS)[number]["id"];

/**
 * The stack page's tabs (WAI-ARIA tabs pattern: arrow keys, Home and End move between
 * tabs; only the selected tab is in the Tab order). The selection is kept in the URL
 * hash (`#state`), so a tab can be linked to.
 */
function StackTabs({
  selected,
  onSelect,
}: {
  selected: TabId;
  onSelect(id: TabId): void;
}) {
  function onKeyDown(e: React.KeyboardEvent<HTMLDivElement>) {
    const i = TABS.findIndex((t) => t.id === selected);
    const next =
      e.key === "ArrowRight"
        ? (i + 1) % TABS.length
        : e.key === "ArrowLeft"
          ? (i - 1 + TABS.length) % TABS.length
          : e.key === "Home"
            ? 0
            : e.key === "End"
              ? TABS.length - 1
              : null;
    if (next === null) return;
    e.preventDefault();
    const tab = TABS[next];
    if (!tab) return;
    onSelect(tab.id);
    document.getElementById(`stack-tab-${tab.id}`)?.focus();
  }
  return (
    <div
      className="tabs stack-tabs"
      role="tablist"
      aria-label="Stack sections"
      onKeyDown={onKeyDown}
    >
      {TABS.map((t) => (
        <button
          key={t.id}
          id={`stack-tab-${t.id}`}
          type="button"
          role="tab"
          className="tab"
          aria-selected={selected === t.id}
          aria-controls={`stack-panel-${t.id}`}
          tabIndex={selected === t.id ? 0 : -1}
          onClick={() => onSelect(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

function useTabFromHash(): [TabId, (id: TabId) => void] {
  const read = (): TabId =>
    window.location.hash === "#state" ? "state" : "overview";
  const [tab, setTab] = useState<TabId>(read);
  useEffect(() => {
    const onHash = () => setTab(read());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const select = (id: TabId) => {
    setTab(id);
    const url = `${window.location.pathname}${window.location.search}${id === "overview" ? "" : `#${id}`}`;
    window.history.replaceState(window.history.state, "", url);
  };
  return [tab, select];
}

/** One stack: trigger, lock, runs, outputs, environment, contexts and settings. */
export function StackPage({ stackId }: { stackId: string }) {
  const q = useQuery(STACK_PAGE, { id: stackId }, { pollMs: 4000 });
  const trigger = useMutation(RUN_TRIGGER);
  const [tab, selectTab] = useTabFromHash();
  const stack = q.data?.stack;

  if (q.loading && !q.data) return <Loading what="the stack" />;
  if (q.error && !q.data) return <ErrorNote>{q.error}</ErrorNote>;
  if (!stack)
    return (
      <>
        <h1>Stack not found</h1>
        <p>
          There is no stack <code>{stackId}</code>, or you cannot see it.{" "}
          <Link to={paths.stacks()}>Back to the stacks</Link>.
        </p>
      </>
    );

  async function runNow(type: "TRACKED" | "PROPOSED") {
    const r = await trigger.mutate({ stack: stackId, type });
    if (r) navigate(paths.run(stackId, r.runTrigger.id));
  }

  return (
    <>
      <p className="crumbs">
        <Link to={paths.stacks()}>Stacks</Link> / {stack.name}
      </p>
      <div className="page-head">
        <div>
          <h1 className="with-badge">
            <span>{stack.name}</span>
            <StateBadge state={stack.state} />
            {stack.lockedBy && <span className="tag">locked</span>}
          </h1>
          {stack.description && <p>{stack.description}</p>}
          <p className="muted mono">
            {stack.repository} @ {stack.branch}
            {stack.projectRoot ? ` / ${stack.projectRoot}` : ""}
          </p>
        </div>
        <div className="actions">
          <button
            type="button"
            className="button primary"
            disabled={trigger.pending || !stack.canWrite || stack.isDisabled}
            onClick={() => void runNow("TRACKED")}
            title="Plan the tracked branch's newest commit; apply after confirmation"
          >
            {trigger.pending ? "Starting run…" : "Trigger run"}
          </button>
          <button
            type="button"
            className="button"
            disabled={trigger.pending || stack.isDisabled}
            onClick={() => void runNow("PROPOSED")}
            title="Plan only; never applies"
          >
            Preview
          </button>
        </div>
      </div>
      <ErrorNote>{trigger.error}</ErrorNote>
      {q.error && <ErrorNote>{q.error}</ErrorNote>}

      <StackTabs selected={tab} onSelect={selectTab} />
      {tab === "state" ? (
        <section
          id="stack-panel-state"
          role="tabpanel"
          aria-labelledby="stack-tab-state"
          className="card"
        >
          <h2>State history</h2>
          <StateHistoryPanel
            stackId={stack.id}
            onChanged={() => void q.reload()}
          />
        </section>
      ) : (
        <div
          className="stack-grid"
          id="stack-panel-overview"
          role="tabpanel"
          aria-labelledby="stack-tab-overview"
        >
          <section aria-labelledby="runs-title" className="card">
            <h2 id="runs-title">Runs</h2>
            <RunsTable stack={stack} />
          </section>

          <section aria-labelledby="outputs-title" className="card">
            <h2 id="outputs-title">Outputs</h2>
            {stack.outputs.length === 0 ? (
              <p className="muted">
                {stack.managesStateFile
                  ? "No outputs yet. They appear after the first applied run."
                  : "This stack's state is not managed by Stackyard."}
              </p>
            ) : (
              <table className="table compact" data-testid="stack-outputs">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {stack.outputs.map((o) => (
                    <tr key={o.id}>
                      <td className="mono">{o.id}</td>
                      <td className="mono break">
                        {o.sensitive ? (
                          <span className="tag">sensitive</span>
                        ) : (
                          o.value
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>

          <section aria-labelledby="env-title" className="card">
            <h2 id="env-title">Environment</h2>
            <EnvironmentPanel
              owner={{ kind: "stack", id: stack.id }}
              config={stack.config}
              canWrite={stack.canWrite}
              onChange={() => void q.reload()}
            />
          </section>

          <section aria-labelledby="contexts-title" className="card">
            <h2 id="contexts-title">Contexts</h2>
            <StackContextsPanel
              stack={stack}
              onChange={() => void q.reload()}
            />
          </section>

          {/* Policies and VCS triggers (features/policies, features/vcs). */}
          <section aria-labelledby="policies-title" className="card">
            <h2 id="policies-title">Policies</h2>
            <StackPoliciesPanel stackId={stack.id} />
          </section>
          <section aria-labelledby="source-title" className="card">
            <h2 id="source-title">Source events</h2>
            <StackVcsEventsPanel stackId={stack.id} />
          </section>

          <section aria-labelledby="settings-title" className="card">
            <h2 id="settings-title">Settings</h2>
            <LockControl stack={stack} onChange={() => void q.reload()} />
            <dl className="settings">
              <dt>Stack id</dt>
              <dd className="mono">{stack.id}</dd>
              <dt>Autodeploy</dt>
              <dd>
                {stack.autodeploy ? "On" : "Off (runs wait for a confirmation)"}
              </dd>
              <dt>Worker pool</dt>
              <dd>{stack.workerPool?.name ?? "Default"}</dd>
              <dt>State</dt>
              <dd>
                {stack.managesStateFile ? "Managed by Stackyard" : "External"}
                {stack.managesStateFile && stack.canWrite && (
                  <StateDownloadButton stackId={stack.id} />
                )}
              </dd>
              <dt>Tracked commit</dt>
              <dd className="mono">
                {stack.trackedCommit?.hash.slice(0, 8) ?? "—"}
              </dd>
              <dt>Labels</dt>
              <dd>
                {stack.labels.length
                  ? stack.labels.map((l) => (
                      <span className="tag" key={l}>
                        {l}
                      </span>
                    ))
                  : "—"}
              </dd>
            </dl>
          </section>
        </div>
      )}
    </>
  );
}

function RunsTable({ stack }: { stack: StackDetails }) {
  if (stack.runs.length === 0)
    return (
      <p className="muted">
        No runs yet. <strong>Trigger run</strong> plans the newest commit of{" "}
        <span className="mono">{stack.branch}</span>.
      </p>
    );
  return (
    <div className="table-wrap">
      <table className="table compact" data-testid="stack-runs">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">State</th>
            <th scope="col">Changes</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {stack.runs.map((r) => (
            <tr key={r.id}>
              <td>
                <Link to={paths.run(stack.id, r.id)} className="mono">
                  {r.id.slice(-8)}
                </Link>{" "}
                <span className="muted">{r.type.toLowerCase()}</span>
                {r.commit.message && (
                  <div className="muted truncate">
                    {r.commit.message.split("\n")[0]}
                  </div>
                )}
              </td>
              <td>
                <StateBadge state={r.state} />
              </td>
              <td className="nowrap">
                {r.delta ? (
                  <span className="delta">
                    <span className="delta-add">+{r.delta.addCount}</span>
                    <span className="delta-change">~{r.delta.changeCount}</span>
                    <span className="delta-delete">−{r.delta.deleteCount}</span>
                  </span>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td className="muted nowrap">
                {formatRelative(r.createdAt)}
                {r.triggeredBy && <div>by {r.triggeredBy}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function LockControl({
  stack,
  onChange,
}: {
  stack: StackDetails;
  onChange(): void;
}) {
  const lock = useMutation(STACK_LOCK);
  const unlock = useMutation(STACK_UNLOCK);
  const pending = lock.pending || unlock.pending;
  return (
    <div className="lock">
      <p>
        {stack.lockedBy ? (
          <>
            Locked by <strong>{stack.lockedBy}</strong>: only they can trigger
            runs, and autodeploy is off.
          </>
        ) : (
          "Not locked."
        )}
      </p>
      {stack.canWrite && (
        <button
          type="button"
          className="button small"
          disabled={pending}
          onClick={async () => {
            const ok = stack.lockedBy
              ? await unlock.mutate({ id: stack.id })
              : await lock.mutate({
                  id: stack.id,
                  note: "Locked from the web UI",
                });
            if (ok) onChange();
          }}
        >
          {pending ? "Saving…" : stack.lockedBy ? "Unlock stack" : "Lock stack"}
        </button>
      )}
      <ErrorNote>{lock.error ?? unlock.error}</ErrorNote>
    </div>
  );
}
