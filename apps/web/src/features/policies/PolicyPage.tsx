import { useState, type FormEvent } from "react";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative, formatTimestamp } from "../../components/time.ts";
import {
  api,
  friendlyError,
  useMutation,
  useQuery,
} from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import {
  POLICY_DELETE,
  POLICY_PAGE,
  POLICY_SAMPLE,
  POLICY_SIMULATE,
  POLICY_TYPE_LABELS,
  type PolicyDetails,
  type PolicyRecord,
} from "./policy-operations.ts";
import { prettyJson } from "./policy-text.ts";
import { PolicyForm } from "./PolicyForm.tsx";
import "./policies.css";

/** One policy: its body (editable), a simulator, and its latest evaluation samples. */
export function PolicyPage({ policyId }: { policyId: string }) {
  const q = useQuery(POLICY_PAGE, { id: policyId });
  const [editing, setEditing] = useState(false);
  const [simInput, setSimInput] = useState(
    '{\n  "terraform": {\n    "resource_changes": []\n  }\n}\n',
  );
  const policy = q.data?.policy;

  if (q.loading && !q.data) return <Loading what="the policy" />;
  if (q.error && !q.data) return <ErrorNote>{q.error}</ErrorNote>;
  if (!policy)
    return (
      <>
        <h1>Policy not found</h1>
        <p>
          There is no policy <code>{policyId}</code>, or you cannot see it.{" "}
          <Link to={paths.policies()}>Back to the policies</Link>.
        </p>
      </>
    );

  return (
    <>
      <p className="crumbs">
        <Link to={paths.policies()}>Policies</Link> / {policy.name}
      </p>
      <div className="page-head">
        <div>
          <h1 className="with-badge">
            <span>{policy.name}</span>
            <span className="tag" data-testid="policy-type">
              {POLICY_TYPE_LABELS[policy.type] ?? policy.type}
            </span>
          </h1>
          {policy.description && <p>{policy.description}</p>}
          <p className="muted">
            <span className="mono">{policy.id}</span> · space{" "}
            <span className="mono">{policy.space}</span> ·{" "}
            {policy.engineType === "REGO_V0" ? "Rego v0" : "Rego v1"} · updated{" "}
            {formatRelative(policy.updatedAt)}
          </p>
          <p>
            {policy.labels.map((l) => (
              <span className="tag" key={l}>
                {l}
              </span>
            ))}
          </p>
        </div>
        <div className="actions">
          {!editing && (
            <button
              type="button"
              className="button primary"
              onClick={() => setEditing(true)}
            >
              Edit
            </button>
          )}
          <DeletePolicy policy={policy} />
        </div>
      </div>

      <div className="split">
        <section className="card" aria-labelledby="policy-body-title">
          <h2 id="policy-body-title">{editing ? "Edit policy" : "Body"}</h2>
          {editing ? (
            <PolicyForm
              key={policy.updatedAt}
              policy={policy}
              onCancel={() => setEditing(false)}
              onSaved={() => {
                setEditing(false);
                void q.reload();
              }}
            />
          ) : (
            <pre className="result-box" data-testid="policy-body" tabIndex={0}>
              {policy.body}
            </pre>
          )}
        </section>
        <div>
          <SimulatePanel
            policy={policy}
            input={simInput}
            onInputChange={setSimInput}
          />
          <SamplesPanel
            policy={policy}
            onUseInput={(text) => {
              setSimInput(text);
              document.getElementById("simulate-input")?.focus();
            }}
            onRefresh={() => void q.reload()}
          />
        </div>
      </div>
    </>
  );
}

function DeletePolicy({ policy }: { policy: PolicyDetails }) {
  const del = useMutation(POLICY_DELETE);
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button
        type="button"
        className="button danger"
        onClick={() => setAsking(true)}
      >
        Delete
      </button>
    );
  return (
    <div className="confirm-box" role="group" aria-label="Confirm deletion">
      <p>
        Delete <strong>{policy.name}</strong>? Stacks it is attached to stop
        using it.
      </p>
      <div className="actions">
        <button
          type="button"
          className="button danger"
          disabled={del.pending}
          onClick={async () => {
            if (await del.mutate({ id: policy.id })) navigate(paths.policies());
          }}
        >
          {del.pending ? "Deleting…" : "Delete policy"}
        </button>
        <button
          type="button"
          className="button"
          disabled={del.pending}
          onClick={() => setAsking(false)}
        >
          Keep it
        </button>
      </div>
      <ErrorNote>{del.error}</ErrorNote>
    </div>
  );
}

/** Evaluates the saved body against a JSON input on the server, without storing anything. */
function SimulatePanel({
  policy,
  input,
  onInputChange,
}: {
  policy: PolicyDetails;
  input: string;
  onInputChange(v: string): void;
}) {
  const sim = useMutation(POLICY_SIMULATE);
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setResult(null);
    try {
      JSON.parse(input);
    } catch (err) {
      setJsonError(
        `The input is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    setJsonError(null);
    const r = await sim.mutate({ body: policy.body, input, type: policy.type });
    if (r) setResult(prettyJson(r.policySimulate));
  }

  return (
    <section className="card" aria-labelledby="simulate-title">
      <h2 id="simulate-title">Simulate</h2>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="simulate-input">Input (JSON)</label>
          <textarea
            id="simulate-input"
            value={input}
            rows={10}
            spellCheck={false}
            aria-invalid={jsonError ? true : undefined}
            aria-describedby="simulate-hint"
            onChange={(e) => onInputChange(e.target.value)}
          />
          <p className="hint" id="simulate-hint">
            Evaluates the saved body against this input, as <code>input</code>.
            Nothing is stored.
          </p>
          {jsonError && (
            <p className="field-error" role="alert">
              {jsonError}
            </p>
          )}
        </div>
        <button type="submit" className="button" disabled={sim.pending}>
          {sim.pending ? "Evaluating…" : "Simulate"}
        </button>
      </form>
      <ErrorNote>{sim.error}</ErrorNote>
      {result !== null && (
        <>
          <h3>Result</h3>
          <pre
            className="result-box"
            data-testid="simulate-result"
            role="status"
            tabIndex={0}
          >
            {result}
          </pre>
        </>
      )}
    </section>
  );
}

/**
 * The policy's latest evaluations (kept 7 days; only those of a policy whose `sample`
 * rule was true). Opening one loads the input it was given.
 */
function SamplesPanel({
  policy,
  onUseInput,
  onRefresh,
}: {
  policy: PolicyDetails;
  onUseInput(text: string): void;
  onRefresh(): void;
}) {
  const [open, setOpen] = useState<string | null>(null);
  const [sample, setSample] = useState<{ key: string; input: string } | null>(
    null,
  );
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const records = [...policy.evaluationRecords].sort(
    (a, b) => b.timestamp - a.timestamp,
  );

  async function show(r: PolicyRecord) {
    if (open === r.key) {
      setOpen(null);
      return;
    }
    setOpen(r.key);
    setError(null);
    setLoading(true);
    try {
      const d = await api.request(POLICY_SAMPLE, {
        id: policy.id,
        key: r.key,
      });
      const s = d.policy?.evaluationSample;
      if (!s) setError("This sample has expired.");
      else setSample({ key: r.key, input: prettyJson(s.input) });
    } catch (err) {
      setError(friendlyError(err));
    } finally {
      setLoading(false);
    }
  }

  return (
    <section className="card" aria-labelledby="samples-title">
      <div className="section-head">
        <h2 id="samples-title">Latest evaluations</h2>
        <button type="button" className="button small" onClick={onRefresh}>
          Refresh
        </button>
      </div>
      {records.length === 0 ? (
        <p className="muted">
          No samples in the last 7 days. A policy records its evaluations when
          its <code>sample</code> rule is true (e.g. <code>sample := true</code>
          ).
        </p>
      ) : (
        <ul className="decisions" data-testid="policy-samples">
          {records.map((r) => (
            <li key={r.key} className="note">
              <button
                type="button"
                className="button small ghost"
                aria-expanded={open === r.key}
                onClick={() => void show(r)}
              >
                <span className={`tag ${outcomeTone(r.outcome)}`}>
                  {r.outcome}
                </span>{" "}
                {formatTimestamp(r.timestamp)}
              </button>
              {open === r.key && (
                <div>
                  {loading && <p className="muted">Loading the sample…</p>}
                  <ErrorNote>{error}</ErrorNote>
                  {sample?.key === r.key && !loading && (
                    <>
                      <pre className="result-box" tabIndex={0}>
                        {sample.input}
                      </pre>
                      <button
                        type="button"
                        className="button small"
                        onClick={() => onUseInput(sample.input)}
                      >
                        Use as simulator input
                      </button>
                    </>
                  )}
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function outcomeTone(outcome: string): string {
  const o = outcome.toLowerCase();
  if (o.includes("deny") || o.includes("reject") || o.includes("error"))
    return "tone-bad";
  if (o.includes("warn") || o.includes("undecided")) return "tone-attention";
  if (o.includes("allow") || o.includes("approve") || o.includes("track"))
    return "tone-ok";
  return "";
}
