import { useState, type FormEvent } from "react";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { useMutation, useQuery } from "../../graphql/api.ts";
import { Link, paths } from "../../routes/router.tsx";
import {
  POLICIES_LIST,
  POLICY_ATTACH,
  POLICY_DETACH,
  POLICY_TYPE_LABELS,
  STACK_POLICIES,
} from "./policy-operations.ts";

/**
 * The policies that apply to a stack: attached ones (with a detach button) and those
 * attached by an `autoattach:` label (which only the policy's labels can remove), plus
 * a form to attach another one. Login policies are global and never listed here.
 */
export function StackPoliciesPanel({ stackId }: { stackId: string }) {
  const q = useQuery(STACK_POLICIES, { id: stackId });
  const canWrite = q.data?.stack?.canWrite ?? false;
  const list = useQuery(
    POLICIES_LIST,
    { input: { first: 100 } },
    { skip: !canWrite },
  );
  const attach = useMutation(POLICY_ATTACH);
  const detach = useMutation(POLICY_DETACH);
  const [policyId, setPolicyId] = useState("");
  const [fieldError, setFieldError] = useState<string | null>(null);

  if (q.loading && !q.data) return <Loading what="policies" />;
  const attached = [...(q.data?.stack?.attachedPolicies ?? [])].sort(
    (a, b) =>
      a.policyType.localeCompare(b.policyType) ||
      a.policyName.localeCompare(b.policyName),
  );
  const attachedIds = new Set(attached.map((a) => a.policyId));
  const candidates = (list.data?.searchPolicies.edges ?? [])
    .map((e) => e.node)
    .filter((p) => !attachedIds.has(p.id) && p.type !== "LOGIN");

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!policyId) return setFieldError("Choose a policy to attach.");
    setFieldError(null);
    if (await attach.mutate({ id: policyId, stack: stackId })) {
      setPolicyId("");
      await Promise.all([q.reload(), list.reload()]);
    }
  }

  return (
    <>
      <ErrorNote>{q.error}</ErrorNote>
      {attached.length === 0 ? (
        <p className="muted">No policies apply to this stack.</p>
      ) : (
        <table className="table compact" data-testid="stack-policies">
          <thead>
            <tr>
              <th scope="col">Policy</th>
              <th scope="col">Type</th>
              {canWrite && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {attached.map((a) => (
              <tr key={a.id}>
                <td>
                  <Link to={paths.policy(a.policyId)}>{a.policyName}</Link>
                  {a.isAutoattached && (
                    <span
                      className="tag"
                      title="Attached by an autoattach label of the policy"
                    >
                      auto
                    </span>
                  )}
                </td>
                <td className="nowrap">
                  {POLICY_TYPE_LABELS[a.policyType] ?? a.policyType}
                </td>
                {canWrite && (
                  <td className="right">
                    {!a.isAutoattached && (
                      <button
                        type="button"
                        className="button small ghost"
                        disabled={detach.pending}
                        aria-label={`Detach ${a.policyName}`}
                        onClick={async () => {
                          if (await detach.mutate({ id: a.id }))
                            await Promise.all([q.reload(), list.reload()]);
                        }}
                      >
                        Detach
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorNote>{detach.error}</ErrorNote>
      {canWrite && (
        <form className="inline-form" onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor="attach-policy">Policy</label>
            <select
              id="attach-policy"
              value={policyId}
              disabled={list.loading}
              aria-invalid={fieldError && !policyId ? true : undefined}
              onChange={(e) => setPolicyId(e.target.value)}
            >
              <option value="">
                {list.loading
                  ? "Loading policies…"
                  : candidates.length === 0
                    ? "No other policies"
                    : "Choose a policy"}
              </option>
              {candidates.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} ({POLICY_TYPE_LABELS[p.type] ?? p.type})
                </option>
              ))}
            </select>
          </div>
          <button
            type="submit"
            className="button"
            disabled={attach.pending || candidates.length === 0}
          >
            {attach.pending ? "Attaching…" : "Attach policy"}
          </button>
          <p className="hint">
            <Link to={paths.policies()}>Manage policies</Link>
          </p>
        </form>
      )}
      <ErrorNote>{fieldError ?? attach.error ?? list.error}</ErrorNote>
    </>
  );
}
