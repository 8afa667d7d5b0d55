import { useEffect, useRef, useState } from "react";
import { STACK_LOCK, STACK_UNLOCK } from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative, formatTimestamp } from "../../components/time.ts";
import { api, friendlyError, useQuery } from "../../graphql/api.ts";
import {
  STACK_STATE_VERSIONS,
  STATE_ROLLBACK,
  type StateVersionNode,
} from "../../graphql/operations.ts";
import { Link, paths } from "../../routes/router.tsx";
import { StateDownloadButton } from "./StateDownloadButton.tsx";

const PAGE_SIZE = 20;

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The stack's managed state history: every version newest first, a download per
 * version, and a rollback (behind a confirmation) to any older one. `onChanged` lets the
 * stack page refresh its lock and outputs after a rollback.
 */
export function StateHistoryPanel({
  stackId,
  onChanged,
}: {
  stackId: string;
  onChanged(): void;
}) {
  const first = useQuery(STACK_STATE_VERSIONS, {
    stack: stackId,
    first: PAGE_SIZE,
  });
  const [older, setOlder] = useState<StateVersionNode[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [moreError, setMoreError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [target, setTarget] = useState<StateVersionNode | null>(null);

  const page = first.data?.stack?.stackyardStateVersions;
  useEffect(() => {
    setOlder([]);
    setCursor(page?.pageInfo.endCursor ?? null);
    setHasMore(page?.pageInfo.hasNextPage ?? false);
  }, [page]);

  async function loadMore() {
    setLoadingMore(true);
    setMoreError(null);
    try {
      const r = await api.request(STACK_STATE_VERSIONS, {
        stack: stackId,
        first: PAGE_SIZE,
        after: cursor,
      });
      const next = r.stack?.stackyardStateVersions;
      if (next) {
        setOlder((o) => [...o, ...next.nodes]);
        setCursor(next.pageInfo.endCursor);
        setHasMore(next.pageInfo.hasNextPage);
      }
    } catch (err) {
      setMoreError(friendlyError(err));
    } finally {
      setLoadingMore(false);
    }
  }

  if (first.loading && !first.data) return <Loading what="the state history" />;
  if (first.error && !first.data) return <ErrorNote>{first.error}</ErrorNote>;
  const stack = first.data?.stack;
  if (!stack) return <ErrorNote>This stack is no longer visible.</ErrorNote>;
  if (!stack.managesStateFile)
    return (
      <p className="muted">
        This stack keeps its state outside Stackyard, so there is no history
        here.
      </p>
    );
  const versions = [...(page?.nodes ?? []), ...older];
  if (versions.length === 0)
    return (
      <p className="muted" data-testid="state-versions-empty">
        No state yet. The first version appears after the first applied run.
      </p>
    );

  return (
    <>
      <div className="table-wrap">
        <table className="table compact" data-testid="state-versions">
          <caption className="visually-hidden">
            State versions, newest first
          </caption>
          <thead>
            <tr>
              <th scope="col">Serial</th>
              <th scope="col">Written</th>
              <th scope="col">By</th>
              <th scope="col">Size</th>
              <th scope="col">Lineage</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.id} data-version={v.id} data-serial={v.serial}>
                <td className="nowrap">
                  <span className="mono">#{v.serial}</span>
                  {v.isCurrent && (
                    <span className="tag tone-ok" data-testid="state-current">
                      current
                    </span>
                  )}
                  {v.restoredFromId && (
                    <div className="muted">
                      rollback of{" "}
                      <span className="mono">
                        #
                        {versions.find((o) => o.id === v.restoredFromId)
                          ?.serial ?? v.restoredFromId.slice(-6)}
                      </span>
                    </div>
                  )}
                </td>
                <td className="nowrap" title={formatTimestamp(v.createdAt)}>
                  {formatRelative(v.createdAt)}
                </td>
                <td>
                  {v.runId ? (
                    <Link to={paths.run(stackId, v.runId)} className="mono">
                      run {v.runId.slice(-8)}
                    </Link>
                  ) : (
                    <span className="break">{v.createdBy ?? "—"}</span>
                  )}
                </td>
                <td className="nowrap">{formatSize(v.size)}</td>
                <td className="mono" title={v.lineage}>
                  {v.lineage.slice(0, 8)}
                </td>
                <td>
                  <div className="row-actions">
                    {stack.canWrite && (
                      <StateDownloadButton
                        stackId={stackId}
                        version={{ id: v.id, serial: v.serial }}
                      />
                    )}
                    {stack.canWrite && !v.isCurrent && (
                      <button
                        type="button"
                        className="button small danger"
                        aria-label={`Roll back to serial ${v.serial}`}
                        onClick={() => setTarget(v)}
                      >
                        Roll back
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {hasMore && (
        <button
          type="button"
          className="button small"
          disabled={loadingMore}
          onClick={() => void loadMore()}
        >
          {loadingMore ? "Loading…" : "Show older versions"}
        </button>
      )}
      <ErrorNote>{moreError}</ErrorNote>
      {target && (
        <RollbackDialog
          stackId={stackId}
          lockedBy={stack.lockedBy}
          version={target}
          onClose={(changed) => {
            setTarget(null);
            if (changed) {
              void first.reload();
              onChanged();
            }
          }}
        />
      )}
    </>
  );
}

type Step = "idle" | "locking" | "rolling-back" | "unlocking" | "done";

const STEP_TEXT: Record<Step, string> = {
  idle: "",
  locking: "Locking the stack so no run starts meanwhile…",
  "rolling-back": "Rolling back the state…",
  unlocking: "Unlocking the stack…",
  done: "",
};

/**
 * Confirms and performs a rollback. A rollback needs the stack locked by the caller:
 * when it is not locked, the dialog locks it first and unlocks it afterwards, even when
 * the rollback failed; a stack locked by the caller stays locked.
 */
function RollbackDialog({
  stackId,
  lockedBy,
  version,
  onClose,
}: {
  stackId: string;
  lockedBy: string | null;
  version: StateVersionNode;
  onClose(changed: boolean): void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [step, setStep] = useState<Step>("idle");
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<StateVersionNode | null>(null);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);

  const busy = step !== "idle" && step !== "done";

  async function rollback() {
    setError(null);
    let lockedHere = false;
    try {
      if (!lockedBy) {
        setStep("locking");
        await api.request(STACK_LOCK, {
          id: stackId,
          note: `Rolling back the state to serial ${version.serial}`,
        });
        lockedHere = true;
      }
      setStep("rolling-back");
      const r = await api.request(STATE_ROLLBACK, {
        stack: stackId,
        version: version.id,
      });
      setResult(r.stackyardStateRollback);
    } catch (err) {
      setError(friendlyError(err));
    }
    if (lockedHere) {
      setStep("unlocking");
      try {
        await api.request(STACK_UNLOCK, { id: stackId });
      } catch (err) {
        setError(
          (e) =>
            `${e ? `${e} ` : ""}The stack is still locked: ${friendlyError(err)}`,
        );
      }
    }
    setStep("done");
  }

  const close = () => {
    ref.current?.close();
    onClose(result !== null);
  };

  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby="rollback-title"
      onCancel={(e) => {
        if (busy) e.preventDefault();
        else onClose(result !== null);
      }}
    >
      <h2 id="rollback-title">Roll back to serial {version.serial}?</h2>
      {result ? (
        <p className="note" role="status" data-testid="rollback-done">
          Done. Serial {result.serial} is now the current state, a copy of
          serial {version.serial}.
        </p>
      ) : (
        <>
          <p>
            Stackyard writes a new state version with the content of serial{" "}
            {version.serial} (written {formatRelative(version.createdAt)}). The
            versions in between stay in the history. The next run plans against
            the restored state.
          </p>
          <p className="muted">
            {lockedBy
              ? `The stack is locked by ${lockedBy}; a rollback needs it locked by you.`
              : "The stack is locked while this happens and unlocked afterwards."}{" "}
            It must have no unfinished runs.
          </p>
        </>
      )}
      {busy && (
        <p className="loading" role="status">
          <span className="spinner" aria-hidden="true" /> {STEP_TEXT[step]}
        </p>
      )}
      <ErrorNote>{error}</ErrorNote>
      <div className="actions">
        {!result && (
          <button
            type="button"
            className="button danger"
            disabled={busy}
            onClick={() => void rollback()}
          >
            {busy ? "Rolling back…" : error ? "Try again" : "Roll back"}
          </button>
        )}
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={close}
          autoFocus
        >
          {result ? "Close" : "Cancel"}
        </button>
      </div>
    </dialog>
  );
}
