import { useEffect, useState, type FormEvent } from "react";
import { adminLogin, exchangeApiKey } from "@stackyard/api-client";
import { ThemeToggle } from "../../components/Layout.tsx";
import { ErrorNote } from "../../components/Notice.tsx";
import { friendlyError } from "../../graphql/api.ts";
import { saveSession } from "../../graphql/session.ts";
import { navigate, paths } from "../../routes/router.tsx";

function safeNext(search: string): string {
  const next = new URLSearchParams(search).get("next");
  // Only same-site paths, never a full URL (no open redirect).
  return next && next.startsWith("/") && !next.startsWith("//")
    ? next
    : paths.stacks();
}

/** Whether the server offers single sign-on (`GET /auth/sso`); null while unknown. */
function useSso(): { enabled: boolean; loginUrl?: string } | null {
  const [sso, setSso] = useState<{
    enabled: boolean;
    loginUrl?: string;
  } | null>(null);
  useEffect(() => {
    let live = true;
    void fetch("/auth/sso")
      .then((r) => (r.ok ? r.json() : { enabled: false }))
      .catch(() => ({ enabled: false }))
      .then((v: { enabled: boolean; loginUrl?: string }) => {
        if (live) setSso(v);
      });
    return () => {
      live = false;
    };
  }, []);
  return sso;
}

/**
 * Sign-in: single sign-on when the server has it (the IdP's page, then back here with a
 * session cookie), an API key (what `stackyard up` prints, and what spacectl's
 * `/apikeytoken` flow uses) or the break-glass admin account.
 */
export function LoginPage({ search }: { search: string }) {
  const expired = new URLSearchParams(search).get("expired") === "1";
  const sso = useSso();
  return (
    <div className="login-shell">
      <div className="login-top">
        <ThemeToggle />
      </div>
      <main id="main" className="login-card">
        <h1>
          <span className="brand-mark" aria-hidden="true" /> Sign in to
          Stackyard
        </h1>
        {expired && (
          <p className="note" role="status">
            Your session ended. Sign in again to continue.
          </p>
        )}
        {sso?.enabled && (
          <section aria-labelledby="sso-title">
            <h2 id="sso-title">With your organization&apos;s account</h2>
            <a
              className="button primary"
              href={`${sso.loginUrl ?? "/oidc/login"}?next=${encodeURIComponent(safeNext(search))}`}
            >
              Sign in with SSO
            </a>
          </section>
        )}
        <ApiKeyForm next={safeNext(search)} />
        <details className="login-more">
          <summary>Break-glass admin sign-in</summary>
          <AdminForm next={safeNext(search)} />
        </details>
        {sso && !sso.enabled && (
          <p className="hint">
            Single sign-on (OIDC) is not configured on this server.
          </p>
        )}
      </main>
    </div>
  );
}

function ApiKeyForm({ next }: { next: string }) {
  const [id, setId] = useState("");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!id.trim() || !secret.trim()) {
      setError("Enter both the API key id and its secret.");
      return;
    }
    setPending(true);
    setError(null);
    try {
      const t = await exchangeApiKey(window.location.origin, {
        id: id.trim(),
        secret: secret.trim(),
      });
      saveSession({ jwt: t.jwt, validUntil: t.validUntil, via: "apiKey" });
      navigate(next, { replace: true });
    } catch (err) {
      setError(friendlyError(err));
    } finally {
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} aria-labelledby="apikey-title" noValidate>
      <h2 id="apikey-title">With an API key</h2>
      <p className="hint">
        <code>stackyard up</code> prints an admin key id and secret; they are
        also in <code>admin-api-key.json</code> in its data directory.
      </p>
      <div className="field">
        <label htmlFor="key-id">API key id</label>
        <input
          id="key-id"
          name="keyId"
          autoComplete="username"
          spellCheck={false}
          value={id}
          onChange={(e) => setId(e.target.value)}
          required
        />
      </div>
      <div className="field">
        <label htmlFor="key-secret">API key secret</label>
        <input
          id="key-secret"
          name="keySecret"
          type="password"
          autoComplete="current-password"
          value={secret}
          onChange={(e) => setSecret(e.target.value)}
          required
        />
      </div>
      <ErrorNote>{error}</ErrorNote>
      <button className="button primary" type="submit" disabled={pending}>
        {pending ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}

function AdminForm({ next }: { next: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username || !password) {
      setError("Enter the admin username and password.");
      return;
    }
    setPending(true);
    setError(null);
    try {
      const t = await adminLogin(window.location.origin, {
        username,
        password,
      });
      saveSession({ jwt: t.jwt, validUntil: t.validUntil, via: "admin" });
      navigate(next, { replace: true });
    } catch (err) {
      setError(friendlyError(err));
    } finally {
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <p className="hint">
        Only for emergencies; enabled when the server has ADMIN_USERNAME and
        ADMIN_PASSWORD set.
      </p>
      <div className="field">
        <label htmlFor="admin-user">Username</label>
        <input
          id="admin-user"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="admin-password">Password</label>
        <input
          id="admin-password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      <ErrorNote>{error}</ErrorNote>
      <button className="button" type="submit" disabled={pending}>
        {pending ? "Signing in…" : "Sign in as admin"}
      </button>
    </form>
  );
}
