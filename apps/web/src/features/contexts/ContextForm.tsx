import { useEffect, useRef, useState, type FormEvent } from "react";
import {
  CONTEXT_CREATE,
  CONTEXT_UPDATE,
  type ContextHooksView,
  type ContextSummary,
} from "@stackyard/api-client";
import { ErrorNote } from "../../components/Notice.tsx";
import { LabelsField } from "../../components/LabelsField.tsx";
import { useMutation } from "../../graphql/api.ts";
import { labelsError, parseLabels } from "./context-labels.ts";

/** Creates a context, or edits one when `context` is given. Fields are checked before sending. */
export function ContextForm({
  context,
  onSaved,
  onCancel,
}: {
  /** Editing: its hooks are sent back unchanged (an update replaces every field). */
  context?: ContextSummary & { hooks: ContextHooksView };
  onSaved(id: string): void;
  onCancel?(): void;
}) {
  const editing = Boolean(context);
  const create = useMutation(CONTEXT_CREATE);
  const update = useMutation(CONTEXT_UPDATE);
  const save = editing ? update : create;
  const [name, setName] = useState(context?.name ?? "");
  const [description, setDescription] = useState(context?.description ?? "");
  const [labels, setLabels] = useState(context?.labels.join(", ") ?? "");
  const [errors, setErrors] = useState<{ name?: string; labels?: string }>({});
  const [saved, setSaved] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  const labelsInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!editing) nameInput.current?.focus();
  }, [editing]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(false);
    const parsed = parseLabels(labels);
    const next = {
      name: name.trim() ? undefined : "Give the context a name.",
      labels: labelsError(parsed) ?? undefined,
    };
    setErrors(next);
    if (next.name) return nameInput.current?.focus();
    if (next.labels) return labelsInput.current?.focus();
    const input = {
      name: name.trim(),
      description: description.trim() || null,
      labels: parsed,
    };
    if (context) {
      const r = await update.mutate({
        id: context.id,
        input: { ...input, hooks: context.hooks },
      });
      if (r) {
        setSaved(true);
        onSaved(context.id);
      }
    } else {
      const r = await create.mutate({ input });
      if (r) onSaved(r.contextCreateV2.id);
    }
  }

  const idPrefix = editing ? "ctx-edit" : "ctx-new";
  return (
    <form onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor={`${idPrefix}-name`}>Name</label>
        <input
          id={`${idPrefix}-name`}
          ref={nameInput}
          value={name}
          autoComplete="off"
          aria-invalid={errors.name ? true : undefined}
          aria-describedby={errors.name ? `${idPrefix}-name-error` : undefined}
          onChange={(e) => setName(e.target.value)}
        />
        {errors.name && (
          <p className="field-error" id={`${idPrefix}-name-error`}>
            {errors.name}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-description`}>
          Description (optional)
        </label>
        <input
          id={`${idPrefix}-description`}
          value={description}
          autoComplete="off"
          onChange={(e) => setDescription(e.target.value)}
        />
      </div>
      <LabelsField
        idPrefix={idPrefix}
        value={labels}
        onChange={setLabels}
        error={errors.labels}
        inputRef={labelsInput}
        hint={
          <>
            Separate labels with commas. <code>autoattach:&lt;label&gt;</code>{" "}
            attaches this context to every stack labelled{" "}
            <code>&lt;label&gt;</code>.
          </>
        }
      />
      <ErrorNote>{save.error}</ErrorNote>
      <div className="actions">
        <button
          type="submit"
          className="button primary"
          disabled={save.pending}
        >
          {save.pending
            ? "Saving…"
            : editing
              ? "Save changes"
              : "Create context"}
        </button>
        {onCancel && (
          <button
            type="button"
            className="button"
            disabled={save.pending}
            onClick={onCancel}
          >
            Cancel
          </button>
        )}
        {saved && (
          <span className="muted" role="status">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}
