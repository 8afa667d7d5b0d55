import { useState } from "react";
import { CONTEXTS_LIST } from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative } from "../../components/time.ts";
import { useQuery } from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import { ContextForm } from "./ContextForm.tsx";

/** Every context the caller can read; a new one is created in place. */
export function ContextsPage() {
  const q = useQuery(CONTEXTS_LIST);
  const [creating, setCreating] = useState(false);
  const contexts = q.data?.stackyardContexts ?? [];
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Contexts</h1>
          <p className="muted">
            Shared environment variables that stacks pick up when the context is
            attached.
          </p>
        </div>
        {!creating && (
          <button
            type="button"
            className="button primary"
            onClick={() => setCreating(true)}
          >
            New context
          </button>
        )}
      </div>
      {creating && (
        <section className="card form-card" aria-labelledby="new-ctx-title">
          <h2 id="new-ctx-title">New context</h2>
          <ContextForm
            onCancel={() => setCreating(false)}
            onSaved={(id) => navigate(paths.context(id))}
          />
        </section>
      )}
      <ErrorNote>{q.error}</ErrorNote>
      {q.loading && !q.data ? (
        <Loading what="contexts" />
      ) : contexts.length === 0 && !q.error ? (
        <p className="empty">
          No contexts yet. Create one to share variables between stacks.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="contexts">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Labels</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {contexts.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link to={paths.context(c.id)} className="strong">
                      {c.name}
                    </Link>
                    {c.description && (
                      <div className="muted truncate">{c.description}</div>
                    )}
                  </td>
                  <td>
                    {c.labels.map((l) => (
                      <span className="tag" key={l}>
                        {l}
                      </span>
                    ))}
                  </td>
                  <td className="muted nowrap">
                    {formatRelative(c.updatedAt)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
