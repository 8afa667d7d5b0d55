import { useState } from "react";
import { CONTEXT_DELETE, CONTEXT_PAGE } from "@stackyard/api-client";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { useMutation, useQuery } from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import { EnvironmentPanel } from "../stacks/EnvironmentPanel.tsx";
import { ContextForm } from "./ContextForm.tsx";
import { autoattachTargets } from "./context-labels.ts";

/** One context: its settings, its environment (secrets write-only) and deletion. */
export function ContextPage({ contextId }: { contextId: string }) {
  const q = useQuery(CONTEXT_PAGE, { id: contextId });
  const remove = useMutation(CONTEXT_DELETE);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const context = q.data?.context;

  if (q.loading && !q.data) return <Loading what="the context" />;
  if (q.error && !q.data) return <ErrorNote>{q.error}</ErrorNote>;
  if (!context)
    return (
      <>
        <h1>Context not found</h1>
        <p>
          There is no context <code>{contextId}</code>, or you cannot see it.{" "}
          <Link to={paths.contexts()}>Back to the contexts</Link>.
        </p>
      </>
    );

  const targets = autoattachTargets(context.labels);
  return (
    <>
      <p className="crumbs">
        <Link to={paths.contexts()}>Contexts</Link> / {context.name}
      </p>
      <div className="page-head">
        <div>
          <h1>{context.name}</h1>
          {context.description && <p>{context.description}</p>}
          <p className="muted mono">{context.id}</p>
          {targets.length > 0 && (
            <p className="muted">
              Attached automatically to stacks labelled{" "}
              {targets.map((t) => (
                <span className="tag" key={t}>
                  {t}
                </span>
              ))}
            </p>
          )}
        </div>
      </div>
      <ErrorNote>{q.error}</ErrorNote>
      <div className="stack-grid">
        <section className="card" aria-labelledby="ctx-env-title">
          <h2 id="ctx-env-title">Environment</h2>
          <EnvironmentPanel
            owner={{ kind: "context", id: context.id }}
            config={context.config}
            canWrite
            onChange={() => void q.reload()}
          />
        </section>
        <section className="card" aria-labelledby="ctx-settings-title">
          <h2 id="ctx-settings-title">Settings</h2>
          <ContextForm
            key={context.id}
            context={context}
            onSaved={() => void q.reload()}
          />
          <hr />
          {!confirmDelete ? (
            <button
              type="button"
              className="button danger small"
              onClick={() => setConfirmDelete(true)}
            >
              Delete context…
            </button>
          ) : (
            <div
              className="confirm-box"
              role="group"
              aria-labelledby="ctx-del-q"
            >
              <p id="ctx-del-q">
                Delete <strong>{context.name}</strong>? It is detached from
                every stack and its variables are gone for good.
              </p>
              <div className="actions">
                <button
                  type="button"
                  className="button danger small"
                  disabled={remove.pending}
                  autoFocus
                  onClick={async () => {
                    if (await remove.mutate({ id: context.id }))
                      navigate(paths.contexts(), { replace: true });
                  }}
                >
                  {remove.pending ? "Deleting…" : "Delete context"}
                </button>
                <button
                  type="button"
                  className="button small"
                  disabled={remove.pending}
                  onClick={() => setConfirmDelete(false)}
                >
                  Cancel
                </button>
              </div>
            </div>
          )}
          <ErrorNote>{remove.error}</ErrorNote>
        </section>
      </div>
    </>
  );
}
