import { useEffect, useRef, useState, type FormEvent } from "react";
import {
  API_KEY_CREATE,
  API_KEY_DELETE,
  API_KEYS_LIST,
  type ApiKeyCreateResult,
  type ApiKeyView,
} from "@stackyard/api-client";
import { CopyField } from "../../components/CopyField.tsx";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative } from "../../components/time.ts";
import { useMutation, useQuery } from "../../graphql/api.ts";

type Created = ApiKeyCreateResult["apiKeyCreate"];

/**
 * API keys (root admins): list, create (the secret shown once, with its credentials
 * file) and delete. Roles are attached through the API or the Terraform provider.
 */
export function ApiKeysPage() {
  const q = useQuery(API_KEYS_LIST);
  const [creating, setCreating] = useState(false);
  // Held in memory only: dismissing the panel or leaving the page forgets the secret.
  const [created, setCreated] = useState<Created | null>(null);
  return (
    <>
      <div className="page-head">
        <h1>API keys</h1>
        {!creating && !created && (
          <button
            type="button"
            className="button primary"
            onClick={() => setCreating(true)}
          >
            New API key
          </button>
        )}
      </div>
      {creating && (
        <CreateKeyForm
          onCancel={() => setCreating(false)}
          onCreated={(k) => {
            setCreating(false);
            setCreated(k);
            void q.reload();
          }}
        />
      )}
      {created && (
        <KeySecret created={created} onDone={() => setCreated(null)} />
      )}
      <ErrorNote>{q.error}</ErrorNote>
      {q.loading && !q.data ? (
        <Loading what="API keys" />
      ) : q.data?.apiKeys.length === 0 ? (
        <p className="empty">No API keys.</p>
      ) : (
        q.data?.apiKeys.map((k) => (
          <KeyCard key={k.id} apiKey={k} onChanged={() => void q.reload()} />
        ))
      )}
    </>
  );
}

function CreateKeyForm({
  onCancel,
  onCreated,
}: {
  onCancel(): void;
  onCreated(k: Created): void;
}) {
  const create = useMutation(API_KEY_CREATE);
  const [name, setName] = useState("");
  const [nameError, setNameError] = useState<string | null>(null);
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => nameInput.current?.focus(), []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!name.trim()) {
      setNameError("Give the key a name.");
      nameInput.current?.focus();
      return;
    }
    setNameError(null);
    const r = await create.mutate({
      input: { name: name.trim(), admin: false, teams: [] },
    });
    if (r) onCreated(r.apiKeyCreate);
  }

  return (
    <section className="card form-card" aria-labelledby="new-key-title">
      <h2 id="new-key-title">New API key</h2>
      <p className="muted">
        A new key holds no rights until a role is attached to it in a space. You
        will see its secret once, right after creating it.
      </p>
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="key-name">Name</label>
          <input
            id="key-name"
            ref={nameInput}
            value={name}
            autoComplete="off"
            aria-invalid={nameError ? true : undefined}
            aria-describedby={nameError ? "key-name-error" : undefined}
            onChange={(e) => setName(e.target.value)}
          />
          {nameError && (
            <p className="field-error" id="key-name-error">
              {nameError}
            </p>
          )}
        </div>
        <ErrorNote>{create.error}</ErrorNote>
        <div className="actions">
          <button
            type="submit"
            className="button primary"
            disabled={create.pending}
          >
            {create.pending ? "Creating…" : "Create key"}
          </button>
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

function KeySecret({ created, onDone }: { created: Created; onDone(): void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const file = created.stackyardCredentialsFile ?? "";
  return (
    <section
      className="card"
      aria-labelledby="key-secret-title"
      data-testid="api-key-secret"
    >
      <h2 id="key-secret-title" ref={heading} tabIndex={-1}>
        API key “{created.name}” created
      </h2>
      <p className="note note-attention">
        Save the secret now: it is shown only once and Stackyard keeps only its
        hash.
      </p>
      <CopyField label="Key id" value={created.id} testId="api-key-id" />
      <CopyField
        label="Key secret"
        value={created.secret ?? ""}
        testId="api-key-secret-value"
      />
      <div className="actions">
        <a
          className="button"
          download={`stackyard-api-key-${created.id}.config`}
          href={`data:text/plain;charset=utf-8,${encodeURIComponent(file)}`}
        >
          Download credentials file
        </a>
        <button type="button" className="button primary" onClick={onDone}>
          I saved it
        </button>
      </div>
    </section>
  );
}

function KeyCard({
  apiKey: k,
  onChanged,
}: {
  apiKey: ApiKeyView;
  onChanged(): void;
}) {
  const del = useMutation(API_KEY_DELETE);
  const [asking, setAsking] = useState(false);
  return (
    <section className="card" aria-label={`API key ${k.name}`}>
      <h2>
        {k.name} {k.admin && <span className="badge">admin</span>}
      </h2>
      <dl className="facts">
        <dt>Id</dt>
        <dd>
          <code>{k.id}</code>
        </dd>
        <dt>Roles</dt>
        <dd>
          {k.admin
            ? "administrator"
            : k.accessRules.length
              ? k.accessRules
                  .map((r) => `${r.spaceAccessLevel} in ${r.space}`)
                  .join(", ")
              : "none"}
        </dd>
        <dt>Created</dt>
        <dd>
          {formatRelative(k.createdAt)}
          {k.creator ? ` by ${k.creator}` : ""}
        </dd>
        <dt>Last used</dt>
        <dd>{k.lastUsedAt ? formatRelative(k.lastUsedAt) : "never"}</dd>
      </dl>
      {asking ? (
        <div className="confirm-box" role="group" aria-label="Confirm deletion">
          <p>
            Delete <strong>{k.name}</strong>? Everything using it loses access
            at once.
          </p>
          <div className="actions">
            <button
              type="button"
              className="button danger"
              disabled={del.pending}
              onClick={async () => {
                if (await del.mutate({ id: k.id })) onChanged();
              }}
            >
              {del.pending ? "Deleting…" : "Delete key"}
            </button>
            <button
              type="button"
              className="button"
              onClick={() => {
                setAsking(false);
                del.reset();
              }}
            >
              Keep it
            </button>
          </div>
        </div>
      ) : (
        <div className="actions">
          <button
            type="button"
            className="button small ghost"
            aria-label={`Delete ${k.name}`}
            onClick={() => setAsking(true)}
          >
            Delete
          </button>
        </div>
      )}
      <ErrorNote>{del.error}</ErrorNote>
    </section>
  );
}
