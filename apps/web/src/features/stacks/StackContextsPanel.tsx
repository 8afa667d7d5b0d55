import { useState, type FormEvent } from "react";
import {
  CONTEXT_ATTACH,
  CONTEXT_DETACH,
  CONTEXTS_LIST,
  type StackDetails,
} from "@stackyard/api-client";
import { ErrorNote } from "../../components/Notice.tsx";
import { useMutation, useQuery } from "../../graphql/api.ts";
import { Link, paths } from "../../routes/router.tsx";

/**
 * The contexts attached to a stack, lowest priority number first (it wins on clashes),
 * with detach buttons and a form to attach another one.
 */
export function StackContextsPanel({
  stack,
  onChange,
}: {
  stack: StackDetails;
  onChange(): void;
}) {
  const list = useQuery(CONTEXTS_LIST, undefined, {
    skip: !stack.canWrite,
  });
  const attach = useMutation(CONTEXT_ATTACH);
  const detach = useMutation(CONTEXT_DETACH);
  const [contextId, setContextId] = useState("");
  const [priority, setPriority] = useState("0");
  const [fieldError, setFieldError] = useState<string | null>(null);

  const attached = [...stack.attachedContexts].sort(
    (a, b) =>
      a.priority - b.priority || a.contextName.localeCompare(b.contextName),
  );
  const attachedIds = new Set(attached.map((a) => a.contextId));
  const candidates = (list.data?.stackyardContexts ?? []).filter(
    (c) => !attachedIds.has(c.id),
  );

  async function submit(e: FormEvent) {
    e.preventDefault();
    const p = Number(priority);
    if (!contextId) return setFieldError("Choose a context to attach.");
    if (!Number.isInteger(p) || p < 0)
      return setFieldError("Priority must be a whole number, 0 or more.");
    setFieldError(null);
    const ok = await attach.mutate({
      id: contextId,
      stack: stack.id,
      priority: p,
    });
    if (ok) {
      setContextId("");
      setPriority("0");
      onChange();
    }
  }

  return (
    <>
      {attached.length === 0 ? (
        <p className="muted">No contexts attached.</p>
      ) : (
        <table className="table compact" data-testid="stack-contexts">
          <thead>
            <tr>
              <th scope="col">Context</th>
              <th scope="col">Priority</th>
              {stack.canWrite && (
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
                  <Link to={paths.context(a.contextId)}>{a.contextName}</Link>
                  {a.isAutoattached && (
                    <span
                      className="tag"
                      title="Attached by an autoattach label"
                    >
                      auto
                    </span>
                  )}
                </td>
                <td className="mono">{a.priority}</td>
                {stack.canWrite && (
                  <td className="right">
                    {!a.isAutoattached && (
                      <button
                        type="button"
                        className="button small ghost"
                        disabled={detach.pending}
                        aria-label={`Detach ${a.contextName}`}
                        onClick={async () => {
                          if (await detach.mutate({ id: a.id })) onChange();
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
      {stack.canWrite && (
        <form className="inline-form" onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor="attach-context">Context</label>
            <select
              id="attach-context"
              value={contextId}
              disabled={list.loading}
              aria-invalid={fieldError && !contextId ? true : undefined}
              onChange={(e) => setContextId(e.target.value)}
            >
              <option value="">
                {list.loading
                  ? "Loading contexts…"
                  : candidates.length === 0
                    ? "No other contexts"
                    : "Choose a context"}
              </option>
              {candidates.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field narrow">
            <label htmlFor="attach-priority">Priority</label>
            <input
              id="attach-priority"
              type="number"
              min={0}
              step={1}
              inputMode="numeric"
              value={priority}
              aria-describedby="attach-priority-hint"
              onChange={(e) => setPriority(e.target.value)}
            />
          </div>
          <button
            type="submit"
            className="button"
            disabled={attach.pending || candidates.length === 0}
          >
            {attach.pending ? "Attaching…" : "Attach context"}
          </button>
          <p className="hint" id="attach-priority-hint">
            On a clash, the lower priority number wins; the stack's own
            variables win over every context.{" "}
            <Link to={paths.contexts()}>Manage contexts</Link>
          </p>
        </form>
      )}
      <ErrorNote>{fieldError ?? attach.error ?? list.error}</ErrorNote>
    </>
  );
}
