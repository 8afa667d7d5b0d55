import { useEffect, useRef, useState, type FormEvent } from "react";
import {
  WORKER_DRAIN_SET,
  WORKER_POOL_CREATE,
  WORKER_POOL_CYCLE,
  type WorkerPoolCreateResult,
} from "@stackyard/api-client";
import { CopyField } from "../../components/CopyField.tsx";
import { humanState } from "../../components/StateBadge.tsx";
import {
  WORKER_POOLS_WITH_RUNS,
  type WorkerPoolWithRuns as WorkerPoolView,
  type WorkerWithRun as WorkerView,
} from "../../graphql/operations.ts";
import { Link, paths } from "../../routes/router.tsx";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import {
  api,
  friendlyError,
  useMutation,
  useQuery,
} from "../../graphql/api.ts";

type Credentials = WorkerPoolCreateResult["stackyardWorkerPoolCreate"];

/** The shell line that starts a launcher for a pool (base64 values need no quoting). */
export function launcherCommand(token: string, privateKey: string): string {
  return `STACKYARD_TOKEN=${token} STACKYARD_POOL_PRIVATE_KEY=${privateKey} stackyard launcher`;
}

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
  const q = useQuery(WORKER_POOLS_WITH_RUNS, undefined, {
    pollMs: 3000,
  });
  const [creating, setCreating] = useState(false);
  // Held in memory only: leaving the page or dismissing the panel forgets them.
  const [created, setCreated] = useState<Credentials | null>(null);
  return (
    <>
      <div className="page-head">
        <h1>Worker pools</h1>
        {!creating && !created && (
          <button
            type="button"
            className="button primary"
            onClick={() => setCreating(true)}
          >
            New worker pool
          </button>
        )}
      </div>
      {creating && (
        <CreatePoolForm
          onCancel={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
            void q.reload();
          }}
        />
      )}
      {created && (
        <PoolCredentials
          credentials={created}
          onDone={() => setCreated(null)}
        />
      )}
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

function CreatePoolForm({
  onCancel,
  onCreated,
}: {
  onCancel(): void;
  onCreated(c: Credentials): void;
}) {
  const create = useMutation(WORKER_POOL_CREATE);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [nameError, setNameError] = useState<string | null>(null);
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => nameInput.current?.focus(), []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!name.trim()) {
      setNameError("Give the pool a name.");
      nameInput.current?.focus();
      return;
    }
    setNameError(null);
    const r = await create.mutate({
      name: name.trim(),
      description: description.trim() || null,
      csr: null,
    });
    if (r) onCreated(r.stackyardWorkerPoolCreate);
  }

  return (
    <section className="card form-card" aria-labelledby="new-pool-title">
      <h2 id="new-pool-title">New worker pool</h2>
      <p className="muted">
        Stackyard generates the pool's key pair and token. You will see them
        once, right after creating the pool.
      </p>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="pool-name">Name</label>
          <input
            id="pool-name"
            ref={nameInput}
            value={name}
            autoComplete="off"
            aria-invalid={nameError ? true : undefined}
            aria-describedby={nameError ? "pool-name-error" : undefined}
            onChange={(e) => setName(e.target.value)}
          />
          {nameError && (
            <p className="field-error" id="pool-name-error">
              {nameError}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor="pool-description">Description (optional)</label>
          <input
            id="pool-description"
            value={description}
            autoComplete="off"
            onChange={(e) => setDescription(e.target.value)}
          />
        </div>
        <ErrorNote>{create.error}</ErrorNote>
        <div className="actions">
          <button
            type="submit"
            className="button primary"
            disabled={create.pending}
          >
            {create.pending ? "Creating pool…" : "Create pool"}
          </button>
          <button
            type="button"
            className="button"
            disabled={create.pending}
            onClick={onCancel}
          >
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

/** The new pool's token and private key: shown once, with copy buttons and the command. */
function PoolCredentials({
  credentials,
  onDone,
}: {
  credentials: Credentials;
  onDone(): void;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const { pool, token, privateKey } = credentials;
  return (
    <section
      className="card"
      aria-labelledby="pool-creds-title"
      data-testid="pool-credentials"
    >
      <h2 id="pool-creds-title" ref={heading} tabIndex={-1}>
        Pool “{pool.name}” created
      </h2>
      <p className="note note-attention">
        Save the token and private key now: they are shown only once. Anyone
        with both can run workers for this pool and read its runs' secrets.
      </p>
      <CopyField
        label="Token (STACKYARD_TOKEN)"
        value={token}
        testId="pool-token"
      />
      {privateKey ? (
        <>
          <CopyField
            label="Private key (STACKYARD_POOL_PRIVATE_KEY)"
            value={privateKey}
            testId="pool-private-key"
          />
          <CopyField
            label="Start a launcher with"
            value={launcherCommand(token, privateKey)}
            testId="pool-launcher-command"
          />
        </>
      ) : (
        <p>
          Start a launcher with <code>STACKYARD_TOKEN</code> set to the token
          and <code>STACKYARD_POOL_PRIVATE_KEY</code> to your own private key
          (base64 PEM): <code>stackyard launcher</code>.
        </p>
      )}
      <button type="button" className="button primary" onClick={onDone}>
        I have saved them
      </button>
    </section>
  );
}

function CycleControl({
  pool,
  liveWorkers,
  onChange,
}: {
  pool: WorkerPoolView;
  liveWorkers: number;
  onChange(): void;
}) {
  const cycle = useMutation(WORKER_POOL_CYCLE);
  const [asking, setAsking] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirmButton.current?.focus();
  }, [asking]);
  if (liveWorkers === 0 && !done) return null;
  return (
    <div>
      {!asking ? (
        <button
          type="button"
          className="button small"
          onClick={() => {
            setDone(null);
            setAsking(true);
          }}
        >
          Cycle workers…
        </button>
      ) : (
        <div
          className="confirm-box"
          role="group"
          aria-labelledby={`cycle-q-${pool.id}`}
        >
          <p id={`cycle-q-${pool.id}`}>
            Restart all {liveWorkers} worker{liveWorkers === 1 ? "" : "s"} of{" "}
            <strong>{pool.name}</strong>? Each finishes its current run, then
            exits; your process manager starts a fresh one.
          </p>
          <div className="actions">
            <button
              type="button"
              className="button danger small"
              ref={confirmButton}
              disabled={cycle.pending}
              onClick={async () => {
                const r = await cycle.mutate({ id: pool.id });
                if (r) {
                  setAsking(false);
                  setDone(
                    "Cycle requested: workers exit after their current run.",
                  );
                  onChange();
                }
              }}
            >
              {cycle.pending ? "Cycling…" : "Cycle workers"}
            </button>
            <button
              type="button"
              className="button small"
              disabled={cycle.pending}
              onClick={() => setAsking(false)}
            >
              Cancel
            </button>
          </div>
        </div>
      )}
      <ErrorNote>{cycle.error}</ErrorNote>
      {done && (
        <p className="note" role="status">
          {done}
        </p>
      )}
    </div>
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
    <section
      className="card"
      aria-labelledby={`pool-${pool.id}`}
      data-testid={`pool-${pool.id}`}
    >
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
      <CycleControl pool={pool} liveWorkers={live.length} onChange={onChange} />
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
      <td>
        {worker.stackyardCurrentRun ? (
          <Link
            to={paths.run(
              worker.stackyardCurrentRun.stackId,
              worker.stackyardCurrentRun.id,
            )}
            data-testid="worker-current-run"
          >
            <span className="mono">
              {worker.stackyardCurrentRun.stackId} /{" "}
              {worker.stackyardCurrentRun.id.slice(-8)}
            </span>{" "}
            <span className="muted">
              ({humanState(worker.stackyardCurrentRun.state).toLowerCase()})
            </span>
          </Link>
        ) : (
          <span className="muted">
            {worker.busy ? "A run you cannot see" : "—"}
          </span>
        )}
      </td>
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
