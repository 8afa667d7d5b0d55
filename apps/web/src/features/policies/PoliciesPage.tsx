import { useState } from "react";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative } from "../../components/time.ts";
import { useQuery } from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import { POLICIES_LIST, POLICY_TYPE_LABELS } from "./policy-operations.ts";
import { PolicyForm } from "./PolicyForm.tsx";

const PAGE = 100;

/** Every policy the caller can read, with its type and labels; a new one is created in place. */
export function PoliciesPage() {
  const [search, setSearch] = useState("");
  const [after, setAfter] = useState<string | null>(null);
  const q = useQuery(POLICIES_LIST, {
    input: {
      first: PAGE,
      ...(after ? { after } : {}),
      ...(search.trim() ? { fullTextSearch: search.trim() } : {}),
    },
  });
  const [creating, setCreating] = useState(false);
  const policies = q.data?.searchPolicies.edges.map((e) => e.node) ?? [];
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Policies</h1>
          <p className="muted">
            Rego rules that decide about plans, approvals, pushes, triggers,
            notifications and logins.
          </p>
        </div>
        {!creating && (
          <button
            type="button"
            className="button primary"
            onClick={() => setCreating(true)}
          >
            New policy
          </button>
        )}
      </div>
      {creating && (
        <section className="card" aria-labelledby="new-policy-title">
          <h2 id="new-policy-title">New policy</h2>
          <PolicyForm
            onCancel={() => setCreating(false)}
            onSaved={(id) => navigate(paths.policy(id))}
          />
        </section>
      )}
      <div className="toolbar">
        <div className="field" style={{ maxWidth: "24rem", marginBottom: 0 }}>
          <label htmlFor="policy-search">Search</label>
          <input
            id="policy-search"
            type="search"
            value={search}
            placeholder="Name or label"
            onChange={(e) => {
              setSearch(e.target.value);
              setAfter(null);
            }}
          />
        </div>
      </div>
      <ErrorNote>{q.error}</ErrorNote>
      {q.loading && !q.data ? (
        <Loading what="policies" />
      ) : policies.length === 0 && !q.error ? (
        <p className="empty">
          {search.trim()
            ? "No policy matches that search."
            : "No policies yet. Create one, then attach it to stacks (or label it autoattach:<label>)."}
        </p>
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="policies">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Labels</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {policies.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={paths.policy(p.id)} className="strong">
                      {p.name}
                    </Link>
                    {p.description && (
                      <div className="muted truncate">{p.description}</div>
                    )}
                  </td>
                  <td className="nowrap">
                    {POLICY_TYPE_LABELS[p.type] ?? p.type}
                  </td>
                  <td>
                    {p.labels.map((l) => (
                      <span className="tag" key={l}>
                        {l}
                      </span>
                    ))}
                  </td>
                  <td className="muted nowrap">
                    {formatRelative(p.updatedAt)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="actions">
        {after && (
          <button
            type="button"
            className="button"
            onClick={() => setAfter(null)}
          >
            First page
          </button>
        )}
        {q.data?.searchPolicies.pageInfo.hasNextPage && (
          <button
            type="button"
            className="button"
            onClick={() =>
              setAfter(q.data?.searchPolicies.pageInfo.endCursor ?? null)
            }
          >
            Next page
          </button>
        )}
      </div>
    </>
  );
}
