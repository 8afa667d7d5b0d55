import { useState } from "react";
import {
  WORKER_DRAIN_SET,
  WORKER_POOLS,
  type WorkerPoolView,
  type WorkerPoolsResult,
  type WorkerView,
} from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { api, friendlyError, useQuery } from "../../graphql/api.ts";

function tagsOf(w: WorkerView): Array<[string, string]> {
  try {
    const parsed = JSON.parse(w.metadata) as Record<string, unknown>;
    return Object.entries(parsed).map(([k, v]) => [k, String(v)]);
  } catch {
    return [];
  }
}

const STATUS_TONE: Record<string, string> = {
  IDLE: "ok",
  BUSY: "active",
  DRAINED: "waiting",
  GONE: "muted",
};

/** Worker pools and their workers: status, tags, what they are doing; drain and undrain. */
export function WorkerPoolsPage() {
  const q = useQuery<WorkerPoolsResult>(WORKER_POOLS, undefined, {
    pollMs: 3000,
  });
  return (
    <>
      <div className="page-head">
        <h1>Worker pools</h1>
      </div>
      <ErrorNote>{q.error}</ErrorNote>
      {q.loading && !q.data ? (
        <Loading what="worker pools" />
      ) : q.data?.workerPools.length === 0 ? (
        <p className="empty">No worker pools.</p>
      ) : (
        q.data?.workerPools.map((p) => (
          <PoolCard key={p.id} pool={p} onChange={() => void q.reload()} />
        ))
      )}
    </>
  );
}

function PoolCard({
  pool,
  onChange,
}: {
  pool: WorkerPoolView;
  onChange(): void;
}) {
  const live = pool.workers.filter((w) => w.status !== "GONE");
  return (
    <section className="card" aria-labelledby={`pool-${pool.id}`}>
      <div className="section-head">
        <h2 id={`pool-${pool.id}`}>{pool.name}</h2>
        <span className="muted">
          {live.length} worker{live.length === 1 ? "" : "s"} ·{" "}
          {pool.busyWorkers} busy · {pool.pendingRuns} run
          {pool.pendingRuns === 1 ? "" : "s"} waiting
        </span>
      </div>
      {pool.description && <p>{pool.description}</p>}
      <p className="muted mono">{pool.id}</p>
      {pool.workers.length === 0 ? (
        <p className="muted">
          No workers have connected. Start a launcher with this pool's
          credentials.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="table compact">
            <thead>
              <tr>
                <th scope="col">Worker</th>
                <th scope="col">Status</th>
                <th scope="col">Tags</th>
                <th scope="col">Current run</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {pool.workers.map((w) => (
                <WorkerRow
                  key={w.id}
                  poolId={pool.id}
                  worker={w}
                  onChange={onChange}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function WorkerRow({
  poolId,
  worker,
  onChange,
}: {
  poolId: string;
  worker: WorkerView;
  onChange(): void;
}) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const status = worker.status ?? (worker.busy ? "BUSY" : "IDLE");
  const gone = status === "GONE";

  async function setDrain(drain: boolean) {
    setPending(true);
    setError(null);
    try {
      await api.request(WORKER_DRAIN_SET, {
        workerPool: poolId,
        worker: worker.id,
        drain,
      });
      onChange();
    } catch (err) {
      setError(friendlyError(err));
    } finally {
      setPending(false);
    }
  }

  return (
    <tr>
      <td className="mono">{worker.id}</td>
      <td>
        <span className={`badge badge-${STATUS_TONE[status] ?? "muted"}`}>
          {status.toLowerCase()}
        </span>
        {worker.drained && status !== "DRAINED" && (
          <span className="tag">draining</span>
        )}
      </td>
      <td>
        {tagsOf(worker).map(([k, v]) => (
          <span className="tag" key={k}>
            {k}={v}
          </span>
        ))}
      </td>
      <td className="muted">{worker.busy ? "Running a run" : "—"}</td>
      <td className="right">
        {!gone && (
          <button
            type="button"
            className="button small"
            disabled={pending}
            onClick={() => void setDrain(!worker.drained)}
            title={
              worker.drained
                ? "Let this worker take new runs again"
                : "Finish the current run, then take no new ones"
            }
          >
            {pending ? "Saving…" : worker.drained ? "Undrain" : "Drain"}
          </button>
        )}
        <ErrorNote>{error}</ErrorNote>
      </td>
    </tr>
  );
}
