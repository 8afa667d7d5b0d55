import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import type {
  StackyardVcsIntegrationCreateInput,
  StackyardVcsIntegrationUpdateInput,
} from "@stackyard/api-client";
import { CopyField } from "../../components/CopyField.tsx";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative } from "../../components/time.ts";
import { useMutation, useQuery } from "../../graphql/api.ts";
import "../policies/policies.css";
import {
  VCS_INTEGRATION_CREATE,
  VCS_INTEGRATION_DELETE,
  VCS_INTEGRATION_UPDATE,
  VCS_INTEGRATIONS,
  fieldProblems,
  type VcsIntegration,
  type VcsProvider,
} from "./vcs-operations.ts";

export const PROVIDER_LABELS: Record<VcsProvider, string> = {
  RAW_GIT: "Raw git (polled)",
  GITHUB: "GitHub App",
  GITLAB: "GitLab",
};

/**
 * The VCS integrations the caller can read; new ones are created and existing ones
 * edited in place.
 */
export function IntegrationsPage() {
  const q = useQuery(VCS_INTEGRATIONS);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<VcsIntegration | null>(null);
  const integrations = q.data?.stackyardVcsIntegrations ?? [];
  return (
    <>
      <div className="page-head">
        <div>
          <h1>VCS integrations</h1>
          <p className="muted">
            How stacks hear about pushes and pull requests: GitHub Apps and
            GitLab send webhooks; raw git repositories are polled.
          </p>
        </div>
        {!creating && (
          <button
            type="button"
            className="button primary"
            onClick={() => {
              setCreating(true);
              setCreated(null);
            }}
          >
            New integration
          </button>
        )}
      </div>
      {creating && (
        <section className="card form-card" aria-labelledby="new-vcs-title">
          <h2 id="new-vcs-title">New integration</h2>
          <IntegrationForm
            onCancel={() => setCreating(false)}
            onCreated={(i) => {
              setCreating(false);
              setCreated(i);
              void q.reload();
            }}
          />
        </section>
      )}
      {created && (
        <div
          className="note vcs-created"
          role="status"
          data-testid="vcs-created"
        >
          <p>
            Created <strong>{created.name}</strong>.{" "}
            {created.webhookUrl
              ? "Point the provider's webhook at this URL, with the same secret:"
              : "Raw git repositories are polled; no webhook is needed."}
          </p>
          {created.webhookUrl && (
            <CopyField label="Webhook URL" value={created.webhookUrl} />
          )}
        </div>
      )}
      <ErrorNote>{q.error}</ErrorNote>
      {q.loading && !q.data ? (
        <Loading what="integrations" />
      ) : integrations.length === 0 && !q.error ? (
        <p className="empty">
          No integrations yet. Raw git stacks work without one; GitHub and
          GitLab stacks need one to receive webhooks and report statuses.
        </p>
      ) : (
        <div className="vcs-grid" data-testid="vcs-integrations">
          {integrations.map((i) => (
            <IntegrationCard
              key={i.id}
              integration={i}
              onChanged={() => void q.reload()}
            />
          ))}
        </div>
      )}
    </>
  );
}

function IntegrationCard({
  integration: listed,
  onChanged,
}: {
  integration: VcsIntegration;
  onChanged(): void;
}) {
  // What the update answered is shown at once; the list's refetch replaces it once it
  // is at least as new, so "Saved." never sits beside the old settings.
  const [latest, setLatest] = useState<VcsIntegration | null>(null);
  const i = latest && latest.updatedAt >= listed.updatedAt ? latest : listed;
  const del = useMutation(VCS_INTEGRATION_DELETE);
  const [asking, setAsking] = useState(false);
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  // Focus goes back to the Edit button when the form closes (saved or cancelled), so a
  // keyboard user keeps their place in the list.
  const closing = useRef(false);
  useEffect(() => {
    if (!editing && closing.current) {
      closing.current = false;
      editButton.current?.focus();
    }
  }, [editing]);
  const close = () => {
    closing.current = true;
    setEditing(false);
  };
  if (editing)
    return (
      <section className="card" aria-label={`Integration ${i.name}`}>
        <h2 className="with-badge">
          <span>Edit {i.name}</span>
          <span className="tag">{PROVIDER_LABELS[i.provider]}</span>
        </h2>
        <IntegrationForm
          editing={i}
          onCancel={close}
          onSaved={(updated) => {
            setLatest(updated);
            setSaved(true);
            close();
            onChanged();
          }}
        />
      </section>
    );
  return (
    <section className="card" aria-label={`Integration ${i.name}`}>
      <h2 className="with-badge">
        <span>{i.name}</span>
        <span className="tag">{PROVIDER_LABELS[i.provider]}</span>
        {i.isDefault && <span className="tag tone-ok">default</span>}
      </h2>
      {i.description && <p>{i.description}</p>}
      <dl className="settings">
        <dt>Integration id</dt>
        <dd className="mono break">{i.id}</dd>
        <dt>Space</dt>
        <dd className="mono">{i.space}</dd>
        {i.provider !== "RAW_GIT" && (
          <>
            <dt>API URL</dt>
            <dd className="mono break">{i.apiUrl ?? "—"}</dd>
            <dt>Git URL</dt>
            <dd className="mono break">{i.gitUrl ?? "—"}</dd>
            {i.provider === "GITHUB" && (
              <>
                <dt>App id</dt>
                <dd className="mono">{i.appId ?? "—"}</dd>
              </>
            )}
            <dt>{i.provider === "GITHUB" ? "Private key" : "Token"}</dt>
            <dd>{i.hasCredentials ? "set (write-only)" : "not set"}</dd>
            <dt>Webhook secret</dt>
            <dd>{i.hasWebhookSecret ? "set (write-only)" : "not set"}</dd>
            <dt>Commit statuses</dt>
            <dd>
              {i.checks === "AGGREGATED" ? "One per run type" : "One per stack"}
            </dd>
          </>
        )}
        <dt>Labels</dt>
        <dd>
          {i.labels.length
            ? i.labels.map((l) => (
                <span className="tag" key={l}>
                  {l}
                </span>
              ))
            : "—"}
        </dd>
        <dt>Updated</dt>
        <dd>{formatRelative(i.updatedAt)}</dd>
      </dl>
      {i.webhookUrl ? (
        <CopyField label={`Webhook URL of ${i.name}`} value={i.webhookUrl} />
      ) : (
        <p className="muted">Polled: no webhook.</p>
      )}
      {saved && (
        <p className="note" role="status">
          Saved.
        </p>
      )}
      {asking ? (
        <div className="confirm-box" role="group" aria-label="Confirm deletion">
          <p>
            Delete <strong>{i.name}</strong>? This is refused while stacks use
            it.
          </p>
          <div className="actions">
            <button
              type="button"
              className="button danger"
              disabled={del.pending}
              onClick={async () => {
                if (await del.mutate({ id: i.id })) onChanged();
              }}
            >
              {del.pending ? "Deleting…" : "Delete integration"}
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
            ref={editButton}
            type="button"
            className="button small"
            aria-label={`Edit ${i.name}`}
            onClick={() => {
              setSaved(false);
              setEditing(true);
            }}
          >
            Edit
          </button>
          <button
            type="button"
            className="button small ghost"
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

interface Fields {
  name: string;
  description: string;
  labels: string;
  isDefault: boolean;
  checks: "INDIVIDUAL" | "AGGREGATED";
  apiUrl: string;
  gitUrl: string;
  appId: string;
  privateKey: string;
  token: string;
  webhookSecret: string;
}

const EMPTY: Fields = {
  name: "",
  description: "",
  labels: "",
  isDefault: false,
  checks: "INDIVIDUAL",
  apiUrl: "",
  gitUrl: "",
  appId: "",
  privateKey: "",
  token: "",
  webhookSecret: "",
};

/** The non-secret fields of a stored integration; secret fields start empty. */
function fieldsOf(i: VcsIntegration): Fields {
  return {
    ...EMPTY,
    name: i.name,
    description: i.description ?? "",
    labels: i.labels.join(", "),
    isDefault: i.isDefault,
    checks: i.checks,
    apiUrl: i.apiUrl ?? "",
    gitUrl: i.gitUrl ?? "",
    appId: i.appId ?? "",
  };
}

const KEEP_HINT = "Leave empty to keep the current value.";

/**
 * Creates an integration, or edits one when `editing` is given. Only the provider's
 * own fields are shown and sent; secrets are password fields that the page never
 * shows again (the API never returns them). When editing, the name and provider are
 * fixed (the webhook URL is made of the name), the other fields start from the stored
 * values, and a secret is sent only when one is typed: an empty secret field keeps the
 * stored value, a typed one replaces it (rotation).
 */
function IntegrationForm({
  editing,
  onCreated,
  onSaved,
  onCancel,
}: {
  editing?: VcsIntegration;
  onCreated?(i: VcsIntegration): void;
  onSaved?(i: VcsIntegration): void;
  onCancel(): void;
}) {
  const create = useMutation(VCS_INTEGRATION_CREATE);
  const update = useMutation(VCS_INTEGRATION_UPDATE);
  const op = editing ? update : create;
  const [provider, setProvider] = useState<VcsProvider>(
    editing?.provider ?? "GITHUB",
  );
  const [f, setF] = useState<Fields>(() =>
    editing ? fieldsOf(editing) : EMPTY,
  );
  const [local, setLocal] = useState<Record<string, string>>({});
  const set = <K extends keyof Fields>(k: K, v: Fields[K]) =>
    setF((x) => ({ ...x, [k]: v }));
  // Ids unique per form: a create form and several edit forms can be open at once.
  const idBase = `vcs${useId().replace(/:/g, "")}`;
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (editing) first.current?.focus();
  }, [editing]);

  const server = op.error ? fieldProblems(op.error) : null;
  const errorOf = (k: string) => local[k] ?? server?.fields[k];
  // Field errors are shown under their fields; the note above the buttons carries the
  // rest (and errors of fields this form does not show), so nothing is lost.
  const shown = new Set<string>([
    ...(editing ? [] : ["name"]),
    "description",
    "labels",
    ...(provider === "RAW_GIT" ? [] : ["apiUrl", "gitUrl", "webhookSecret"]),
    ...(provider === "GITHUB" ? ["appId", "privateKey"] : []),
    ...(provider === "GITLAB" ? ["token"] : []),
  ]);
  const note = server
    ? [
        ...server.rest,
        ...Object.entries(server.fields)
          .filter(([k]) => !shown.has(k))
          .map(([k, m]) => `${k}: ${m}`),
      ].join(" ") || "Check the fields marked above."
    : null;
  // A secret already stored may be left empty when editing.
  const hasCredentials = editing?.hasCredentials ?? false;
  const hasWebhookSecret = editing?.hasWebhookSecret ?? false;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!editing && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(f.name.trim()))
      problems.name =
        "Use letters, digits, dots, dashes and underscores (it becomes part of the webhook URL).";
    if (provider === "GITHUB") {
      if (!/^[0-9]+$/.test(f.appId.trim()))
        problems.appId = "Enter the GitHub App's numeric id.";
      if (
        (f.privateKey || !hasCredentials) &&
        !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(f.privateKey)
      )
        problems.privateKey =
          "Paste the App's private key (PEM, starting with -----BEGIN).";
    }
    if (provider === "GITLAB" && !hasCredentials && !f.token.trim())
      problems.token = "Enter a GitLab access token with the api scope.";
    if (provider !== "RAW_GIT" && !hasWebhookSecret && !f.webhookSecret)
      problems.webhookSecret =
        "Enter the webhook secret (the same one goes into the provider's webhook settings).";
    setLocal(problems);
    if (Object.keys(problems).length) {
      op.reset();
      return;
    }
    const labels = f.labels
      .split(",")
      .map((l) => l.trim())
      .filter(Boolean);
    // Shared by both inputs; an empty description clears it (null), and absent
    // secrets keep the stored ones on update.
    const input: StackyardVcsIntegrationUpdateInput = {
      isDefault: f.isDefault,
      labels,
      description: f.description.trim() || null,
    };
    if (provider !== "RAW_GIT") {
      input.checks = f.checks;
      if (f.webhookSecret) input.webhookSecret = f.webhookSecret;
      if (f.apiUrl.trim()) input.apiUrl = f.apiUrl.trim();
      if (f.gitUrl.trim()) input.gitUrl = f.gitUrl.trim();
    }
    if (provider === "GITHUB") {
      input.appId = f.appId.trim();
      if (f.privateKey) input.privateKey = f.privateKey;
    }
    if (provider === "GITLAB" && f.token.trim()) input.token = f.token.trim();
    if (editing) {
      const r = await update.mutate({ id: editing.id, input });
      if (r) onSaved?.(r.stackyardVcsIntegrationUpdate);
      return;
    }
    const createInput: StackyardVcsIntegrationCreateInput = {
      ...input,
      name: f.name.trim(),
      provider,
    };
    const r = await create.mutate({ input: createInput });
    if (r) {
      setF(EMPTY);
      onCreated?.(r.stackyardVcsIntegrationCreate);
    }
  }

  const text = (
    k: keyof Fields,
    label: string,
    opts: {
      hint?: string;
      secret?: boolean;
      placeholder?: string;
      focus?: boolean;
    } = {},
  ) => {
    const err = errorOf(k);
    const id = `${idBase}-${k}`;
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <input
          id={id}
          ref={opts.focus ? first : undefined}
          type={opts.secret ? "password" : "text"}
          autoComplete={opts.secret ? "new-password" : "off"}
          spellCheck={false}
          placeholder={opts.placeholder}
          value={f[k] as string}
          aria-invalid={err ? true : undefined}
          aria-describedby={
            [opts.hint ? `${id}-hint` : "", err ? `${id}-error` : ""]
              .filter(Boolean)
              .join(" ") || undefined
          }
          onChange={(e) => set(k, e.target.value)}
        />
        {opts.hint && (
          <p className="hint" id={`${id}-hint`}>
            {opts.hint}
          </p>
        )}
        {err && (
          <p className="field-error" id={`${id}-error`}>
            {err}
          </p>
        )}
      </div>
    );
  };

  const keyError = errorOf("privateKey");
  const keyId = `${idBase}-privateKey`;
  const verb = editing
    ? op.pending
      ? "Saving…"
      : "Save changes"
    : op.pending
      ? "Creating…"
      : "Create integration";
  return (
    <form
      onSubmit={submit}
      noValidate
      aria-label={editing ? `Edit ${editing.name}` : "New integration"}
      aria-busy={op.pending || undefined}
      onKeyDown={(e) => {
        if (e.key === "Escape" && !op.pending) {
          e.preventDefault();
          onCancel();
        }
      }}
    >
      {editing ? (
        <p className="muted">
          Name <strong className="mono">{editing.name}</strong> and provider
          cannot change: the webhook URL is made of the name.
        </p>
      ) : (
        <>
          <div className="field">
            <label htmlFor={`${idBase}-provider`}>Provider</label>
            <select
              id={`${idBase}-provider`}
              value={provider}
              onChange={(e) => {
                setProvider(e.target.value as VcsProvider);
                setLocal({});
                op.reset();
              }}
            >
              {(Object.keys(PROVIDER_LABELS) as VcsProvider[]).map((p) => (
                <option key={p} value={p}>
                  {PROVIDER_LABELS[p]}
                </option>
              ))}
            </select>
          </div>
          {text("name", "Name", {
            hint: "Cannot change later: the webhook URL ends with it.",
          })}
        </>
      )}
      {text("description", "Description (optional)", { focus: true })}
      {text("labels", "Labels (optional)", {
        hint: "Separate labels with commas.",
      })}
      {provider !== "RAW_GIT" && (
        <>
          {text("apiUrl", "API URL (optional)", {
            placeholder:
              provider === "GITHUB"
                ? "https://api.github.com"
                : "https://gitlab.com/api/v4",
            hint: "Leave empty for the public service; set it for a self-hosted instance.",
          })}
          {text("gitUrl", "Git URL (optional)", {
            placeholder:
              provider === "GITHUB"
                ? "https://github.com"
                : "https://gitlab.com",
          })}
        </>
      )}
      {provider === "GITHUB" && (
        <>
          {text("appId", "App id")}
          <div className="field">
            <label htmlFor={keyId}>Private key (PEM)</label>
            <textarea
              id={keyId}
              rows={4}
              spellCheck={false}
              autoComplete="off"
              value={f.privateKey}
              placeholder="-----BEGIN RSA PRIVATE KEY-----"
              aria-invalid={keyError ? true : undefined}
              aria-describedby={`${keyId}-hint${keyError ? ` ${keyId}-error` : ""}`}
              onChange={(e) => set("privateKey", e.target.value)}
            />
            <p className="hint" id={`${keyId}-hint`}>
              {hasCredentials
                ? `${KEEP_HINT} Write-only: a new key is stored encrypted and never shown again.`
                : "Write-only: it is stored encrypted and never shown again."}
            </p>
            {keyError && (
              <p className="field-error" id={`${keyId}-error`}>
                {keyError}
              </p>
            )}
          </div>
        </>
      )}
      {provider === "GITLAB" &&
        text("token", "Access token", {
          secret: true,
          hint: hasCredentials
            ? `${KEEP_HINT} Write-only, with the api scope.`
            : "Write-only, with the api scope.",
        })}
      {provider !== "RAW_GIT" && (
        <>
          {text("webhookSecret", "Webhook secret", {
            secret: true,
            hint: hasWebhookSecret
              ? `${KEEP_HINT} A new secret must also be set on the provider's webhook.`
              : "Write-only; configure the same secret on the provider's webhook.",
          })}
          <div className="field">
            <label htmlFor={`${idBase}-checks`}>Commit statuses</label>
            <select
              id={`${idBase}-checks`}
              value={f.checks}
              onChange={(e) =>
                set("checks", e.target.value as Fields["checks"])
              }
            >
              <option value="INDIVIDUAL">One per stack</option>
              <option value="AGGREGATED">One per run type (aggregated)</option>
            </select>
          </div>
        </>
      )}
      <div className="field checkbox">
        <input
          id={`${idBase}-default`}
          type="checkbox"
          checked={f.isDefault}
          aria-describedby={`${idBase}-default-hint`}
          onChange={(e) => set("isDefault", e.target.checked)}
        />
        <label htmlFor={`${idBase}-default`}>Default for this provider</label>
        <p className="hint" id={`${idBase}-default-hint`}>
          Stacks of this provider that name no integration use it.
        </p>
      </div>
      <ErrorNote>{note}</ErrorNote>
      <div className="actions">
        <button type="submit" className="button primary" disabled={op.pending}>
          {op.pending && <span className="spinner" aria-hidden="true" />}
          {verb}
        </button>
        <button
          type="button"
          className="button"
          disabled={op.pending}
          onClick={onCancel}
        >
          Cancel
        </button>
      </div>
    </form>
  );
}
