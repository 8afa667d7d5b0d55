import { useEffect, useRef, useState, type FormEvent } from "react";
import type { PolicyType as SchemaPolicyType } from "@stackyard/api-client";
import { LabelsField } from "../../components/LabelsField.tsx";
import { useMutation } from "../../graphql/api.ts";
import {
  POLICY_CREATE,
  POLICY_TYPE_LABELS,
  POLICY_TYPES,
  POLICY_UPDATE,
  type PolicyDetails,
} from "./policy-operations.ts";
import {
  parsePolicyLabels,
  parseRegoProblems,
  policyLabelsError,
} from "./policy-text.ts";
import { RegoEditor, focusLine } from "./RegoEditor.tsx";

const STARTERS: Record<string, string> = {
  PLAN: `package spacelift

import rego.v1

# deny fails the run; warn keeps it waiting for a confirmation.
warn contains sprintf("%s will be deleted", [rc.address]) if {
  some rc in input.terraform.resource_changes
  "delete" in rc.change.actions
}

sample := true
`,
  APPROVAL: `package spacelift

import rego.v1

approve if count(input.reviews.current.approvals) >= 1

reject if count(input.reviews.current.rejections) > 0
`,
};

const DEFAULT_BODY = `package spacelift

import rego.v1

`;

/**
 * Creates a policy, or edits one when `policy` is given (its type cannot change). The
 * server compiles the body on save; its problems are listed under the editor with
 * their line and column, and the lines are marked in the gutter.
 */
export function PolicyForm({
  policy,
  onSaved,
  onCancel,
}: {
  policy?: PolicyDetails;
  onSaved(id: string): void;
  onCancel?(): void;
}) {
  const editing = Boolean(policy);
  const create = useMutation(POLICY_CREATE);
  const update = useMutation(POLICY_UPDATE);
  const save = editing ? update : create;
  const [name, setName] = useState(policy?.name ?? "");
  const [type, setType] = useState<SchemaPolicyType>(policy?.type ?? "PLAN");
  const [description, setDescription] = useState(policy?.description ?? "");
  const [labels, setLabels] = useState(policy?.labels.join(", ") ?? "");
  const [body, setBody] = useState(policy?.body ?? STARTERS.PLAN ?? "");
  const [errors, setErrors] = useState<{ name?: string; labels?: string }>({});
  const [saved, setSaved] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  const editor = useRef<HTMLTextAreaElement>(null);
  const idPrefix = editing ? "policy-edit" : "policy-new";

  useEffect(() => {
    if (!editing) nameInput.current?.focus();
  }, [editing]);

  const problems = save.error ? parseRegoProblems(save.error) : [];
  const located = problems.filter((p) => p.line !== null);
  const badLines = new Set(located.map((p) => p.line ?? 0));

  function changeType(value: string) {
    // The select offers only POLICY_TYPES.
    const next = POLICY_TYPES.find((t) => t === value);
    if (!next) return;
    // Offer the new type's starter while the body is still an untouched starter.
    const untouched =
      body === DEFAULT_BODY || Object.values(STARTERS).includes(body);
    setType(next);
    if (untouched) setBody(STARTERS[next] ?? DEFAULT_BODY);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(false);
    const parsed = parsePolicyLabels(labels);
    const next = {
      name: name.trim() ? undefined : "Give the policy a name.",
      labels: policyLabelsError(parsed) ?? undefined,
    };
    setErrors(next);
    if (next.name) return nameInput.current?.focus();
    if (next.labels) return;
    const input = {
      name: name.trim(),
      body,
      labels: parsed,
      description: description.trim() || null,
    };
    if (policy) {
      const r = await update.mutate({ id: policy.id, input });
      if (r) {
        setSaved(true);
        onSaved(policy.id);
      }
    } else {
      const r = await create.mutate({ input: { ...input, type } });
      if (r) onSaved(r.policyCreatev2.id);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <div className="inline-form" style={{ marginTop: 0 }}>
        <div className="field">
          <label htmlFor={`${idPrefix}-name`}>Name</label>
          <input
            id={`${idPrefix}-name`}
            ref={nameInput}
            value={name}
            autoComplete="off"
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={
              errors.name ? `${idPrefix}-name-error` : undefined
            }
            onChange={(e) => setName(e.target.value)}
          />
          {errors.name && (
            <p className="field-error" id={`${idPrefix}-name-error`}>
              {errors.name}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor={`${idPrefix}-type`}>Type</label>
          <select
            id={`${idPrefix}-type`}
            value={type}
            disabled={editing}
            aria-describedby={editing ? `${idPrefix}-type-hint` : undefined}
            onChange={(e) => changeType(e.target.value)}
          >
            {POLICY_TYPES.map((t) => (
              <option key={t} value={t}>
                {POLICY_TYPE_LABELS[t] ?? t}
              </option>
            ))}
          </select>
          {editing && (
            <p className="hint" id={`${idPrefix}-type-hint`}>
              A policy's type cannot change.
            </p>
          )}
        </div>
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
        hint={
          <>
            Separate labels with commas. <code>autoattach:&lt;label&gt;</code>{" "}
            attaches the policy to every stack labelled{" "}
            <code>&lt;label&gt;</code>; <code>autoattach:*</code> to every
            stack.
          </>
        }
      />
      <div className="field">
        <label htmlFor={`${idPrefix}-body`}>Body (Rego)</label>
        <RegoEditor
          id={`${idPrefix}-body`}
          value={body}
          onChange={setBody}
          badLines={badLines}
          editorRef={editor}
          describedBy={`${idPrefix}-body-hint${save.error ? ` ${idPrefix}-problems` : ""}`}
        />
        <p className="hint" id={`${idPrefix}-body-hint`}>
          The package must be <code>spacelift</code>. Rego v1 and v0 are both
          accepted. Tab indents; press Escape, then Tab, to leave the editor.
        </p>
      </div>
      {save.error && (
        <div
          className="note note-error problems-note"
          role="alert"
          id={`${idPrefix}-problems`}
        >
          {located.length > 0 ? (
            <>
              <strong>The policy was not saved:</strong>
              <ul className="problems" data-testid="policy-problems">
                {problems.map((p, i) => (
                  <li key={i}>
                    {p.line !== null ? (
                      <button
                        type="button"
                        onClick={() =>
                          focusLine(editor.current, p.line ?? 1, p.column)
                        }
                      >
                        Line {p.line}
                        {p.column !== null ? `, column ${p.column}` : ""}
                      </button>
                    ) : null}
                    {p.line !== null ? ": " : ""}
                    {p.message}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            save.error
          )}
        </div>
      )}
      <div className="actions">
        <button
          type="submit"
          className="button primary"
          disabled={save.pending}
        >
          {save.pending
            ? "Checking and saving…"
            : editing
              ? "Save changes"
              : "Create policy"}
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
        {saved && !save.error && (
          <span className="muted" role="status">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}
