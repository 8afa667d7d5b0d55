import { useState, type FormEvent } from "react";
import {
  CONTEXT_CONFIG_ADD,
  CONTEXT_CONFIG_DELETE,
  STACK_CONFIG_ADD,
  STACK_CONFIG_DELETE,
  type ConfigElementView,
} from "@stackyard/api-client";
import { ErrorNote } from "../../components/Notice.tsx";
import { useMutation } from "../../graphql/api.ts";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whose environment the panel edits: a stack's or a context's. */
export type EnvironmentOwner = { kind: "stack" | "context"; id: string };

/**
 * A stack's or context's environment variables. A secret (write-only) value is never
 * shown, not even to its author: the list only says it is set. Saving an existing name
 * replaces it.
 */
export function EnvironmentPanel({
  owner,
  config,
  canWrite,
  onChange,
}: {
  owner: EnvironmentOwner;
  config: ConfigElementView[];
  canWrite: boolean;
  onChange(): void;
}) {
  const isStack = owner.kind === "stack";
  const add = useMutation(isStack ? STACK_CONFIG_ADD : CONTEXT_CONFIG_ADD);
  const remove = useMutation(
    isStack ? STACK_CONFIG_DELETE : CONTEXT_CONFIG_DELETE,
  );
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [secret, setSecret] = useState(true);
  const [nameError, setNameError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(null);
    const n = name.trim();
    if (!NAME.test(n)) {
      setNameError(
        "Use letters, digits and underscores, not starting with a digit (e.g. TF_VAR_region).",
      );
      return;
    }
    setNameError(null);
    const ok = await add.mutate({
      [owner.kind]: owner.id,
      config: {
        id: n,
        type: "ENVIRONMENT_VARIABLE",
        value,
        writeOnly: secret,
        description: null,
      },
    });
    if (ok) {
      setName("");
      setValue("");
      setSaved(`${n} saved.`);
      onChange();
    }
  }

  const vars = config.filter((c) => !c.runtime);
  return (
    <>
      {vars.length === 0 ? (
        <p className="muted">No environment variables.</p>
      ) : (
        <table className="table compact">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Value</th>
              {canWrite && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {vars.map((c) => (
              <tr key={c.id}>
                <td className="mono">
                  {c.type === "FILE_MOUNT" ? `/mnt/workspace/${c.id}` : c.id}
                </td>
                <td>
                  {c.writeOnly ? (
                    <span
                      className="tag"
                      title="Write-only: the value is never shown"
                    >
                      secret · set
                    </span>
                  ) : c.type === "FILE_MOUNT" ? (
                    <span className="muted">mounted file</span>
                  ) : (
                    <span className="mono">{c.value}</span>
                  )}
                </td>
                {canWrite && (
                  <td className="right">
                    <button
                      type="button"
                      className="button small ghost"
                      disabled={remove.pending}
                      aria-label={`Delete ${c.id}`}
                      onClick={async () => {
                        if (
                          await remove.mutate({
                            [owner.kind]: owner.id,
                            id: c.id,
                          })
                        )
                          onChange();
                      }}
                    >
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorNote>{remove.error}</ErrorNote>
      {canWrite && (
        <form className="env-form" onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor="env-name">Name</label>
            <input
              id="env-name"
              className="mono"
              value={name}
              spellCheck={false}
              autoComplete="off"
              aria-invalid={nameError ? true : undefined}
              aria-describedby={nameError ? "env-name-error" : undefined}
              onChange={(e) => setName(e.target.value)}
            />
            {nameError && (
              <p className="field-error" id="env-name-error">
                {nameError}
              </p>
            )}
          </div>
          <div className="field">
            <label htmlFor="env-value">Value</label>
            <input
              id="env-value"
              type={secret ? "password" : "text"}
              autoComplete="off"
              value={value}
              onChange={(e) => setValue(e.target.value)}
            />
          </div>
          <div className="field checkbox">
            <input
              id="env-secret"
              type="checkbox"
              checked={secret}
              onChange={(e) => setSecret(e.target.checked)}
            />
            <label htmlFor="env-secret">Secret (write-only)</label>
          </div>
          <button className="button" type="submit" disabled={add.pending}>
            {add.pending ? "Saving…" : "Save variable"}
          </button>
          <ErrorNote>{add.error}</ErrorNote>
          {saved && (
            <p className="note" role="status">
              {saved}
            </p>
          )}
        </form>
      )}
    </>
  );
}
