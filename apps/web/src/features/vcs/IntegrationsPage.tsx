import { useState, type FormEvent } from "react";
import type { StackyardVcsIntegrationCreateInput } from "@stackyard/api-client";
import { CopyField } from "../../components/CopyField.tsx";
import { ErrorNote, Loading } from "../../components/Notice.tsx";
import { formatRelative } from "../../components/time.ts";
import { useMutation, useQuery } from "../../graphql/api.ts";
import "../policies/policies.css";
import {
  VCS_INTEGRATION_CREATE,
  VCS_INTEGRATION_DELETE,
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

/** The VCS integrations the caller can read; new ones are created in place. */
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
              onDeleted={() => void q.reload()}
            />
          ))}
        </div>
      )}
    </>
  );
}

function IntegrationCard({
  integration: i,
  onDeleted,
}: {
  integration: VcsIntegration;
  onDeleted(): void;
}) {
  const del = useMutation(VCS_INTEGRATION_DELETE);
  const [asking, setAsking] = useState(false);
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
        <dd className="mono">{i.id}</dd>
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
                if (await del.mutate({ id: i.id })) onDeleted();
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
        <button
          type="button"
          className="button small ghost"
          onClick={() => setAsking(true)}
        >
          Delete
        </button>
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

/**
 * Creates an integration. Only the provider's own fields are shown and sent; secrets
 * are password fields that the page never shows again (the API never returns them).
 */
function IntegrationForm({
  onCreated,
  onCancel,
}: {
  onCreated(i: VcsIntegration): void;
  onCancel(): void;
}) {
  const create = useMutation(VCS_INTEGRATION_CREATE);
  const [provider, setProvider] = useState<VcsProvider>("GITHUB");
  const [f, setF] = useState<Fields>(EMPTY);
  const [local, setLocal] = useState<Record<string, string>>({});
  const set = <K extends keyof Fields>(k: K, v: Fields[K]) =>
    setF((x) => ({ ...x, [k]: v }));

  const server = create.error ? fieldProblems(create.error) : null;
  const errorOf = (k: string) => local[k] ?? server?.fields[k];

  async function submit(e: FormEvent) {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(f.name.trim()))
      problems.name =
        "Use letters, digits, dots, dashes and underscores (it becomes part of the webhook URL).";
    if (provider === "GITHUB") {
      if (!/^[0-9]+$/.test(f.appId.trim()))
        problems.appId = "Enter the GitHub App's numeric id.";
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(f.privateKey))
        problems.privateKey =
          "Paste the App's private key (PEM, starting with -----BEGIN).";
    }
    if (provider === "GITLAB" && !f.token.trim())
      problems.token = "Enter a GitLab access token with the api scope.";
    if (provider !== "RAW_GIT" && !f.webhookSecret)
      problems.webhookSecret =
        "Enter the webhook secret (the same one goes into the provider's webhook settings).";
    setLocal(problems);
    if (Object.keys(problems).length) {
      create.reset();
      return;
    }
    const labels = f.labels
      .split(",")
      .map((l) => l.trim())
      .filter(Boolean);
    const input: StackyardVcsIntegrationCreateInput = {
      name: f.name.trim(),
      provider,
      isDefault: f.isDefault,
      labels,
      description: f.description.trim() || null,
    };
    if (provider !== "RAW_GIT") {
      input.checks = f.checks;
      input.webhookSecret = f.webhookSecret;
      if (f.apiUrl.trim()) input.apiUrl = f.apiUrl.trim();
      if (f.gitUrl.trim()) input.gitUrl = f.gitUrl.trim();
    }
    if (provider === "GITHUB") {
      input.appId = f.appId.trim();
      input.privateKey = f.privateKey;
    }
    if (provider === "GITLAB") input.token = f.token.trim();
    const r = await create.mutate({ input });
    if (r) {
      setF(EMPTY);
      onCreated(r.stackyardVcsIntegrationCreate);
    }
  }

  const text = (
    k: keyof Fields,
    label: string,
    opts: { hint?: string; secret?: boolean; placeholder?: string } = {},
  ) => {
    const err = errorOf(k);
    const id = `vcs-${k}`;
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <input
          id={id}
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
  return (
    <form onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor="vcs-provider">Provider</label>
        <select
          id="vcs-provider"
          value={provider}
          onChange={(e) => {
            setProvider(e.target.value as VcsProvider);
            setLocal({});
            create.reset();
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
      {text("description", "Description (optional)")}
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
            <label htmlFor="vcs-privateKey">Private key (PEM)</label>
            <textarea
              id="vcs-privateKey"
              rows={4}
              spellCheck={false}
              autoComplete="off"
              value={f.privateKey}
              placeholder="-----BEGIN RSA PRIVATE KEY-----"
              aria-invalid={keyError ? true : undefined}
              aria-describedby={`vcs-privateKey-hint${keyError ? " vcs-privateKey-error" : ""}`}
              onChange={(e) => set("privateKey", e.target.value)}
            />
            <p className="hint" id="vcs-privateKey-hint">
              Write-only: it is stored encrypted and never shown again.
            </p>
            {keyError && (
              <p className="field-error" id="vcs-privateKey-error">
                {keyError}
              </p>
            )}
          </div>
        </>
      )}
      {provider === "GITLAB" &&
        text("token", "Access token", {
          secret: true,
          hint: "Write-only, with the api scope.",
        })}
      {provider !== "RAW_GIT" && (
        <>
          {text("webhookSecret", "Webhook secret", {
            secret: true,
            hint: "Write-only; configure the same secret on the provider's webhook.",
          })}
          <div className="field">
            <label htmlFor="vcs-checks">Commit statuses</label>
            <select
              id="vcs-checks"
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
          id="vcs-default"
          type="checkbox"
          checked={f.isDefault}
          onChange={(e) => set("isDefault", e.target.checked)}
        />
        <label htmlFor="vcs-default">Default for this provider</label>
        <p className="hint">
          Stacks of this provider that name no integration use it.
        </p>
      </div>
      <ErrorNote>{create.error}</ErrorNote>
      <div className="actions">
        <button
          type="submit"
          className="button primary"
          disabled={create.pending}
        >
          {create.pending ? "Creating…" : "Create integration"}
        </button>
        <button
          type="button"
          className="button"
          disabled={create.pending}
          onClick={onCancel}
        >
          Cancel
        </button>
      </div>
    </form>
  );
}
