/**
 * The signed-in session: the JWT the server issued, kept in sessionStorage so it lives
 * as long as the tab and never leaves this origin. `via` records how the user signed in.
 * An SSO session has no JWT: the server's HttpOnly cookie is the credential, and the
 * CSRF token kept here goes with every GraphQL call.
 */
export interface StoredSession {
  jwt: string;
  /** Unix seconds. */
  validUntil: number;
  via: "apiKey" | "admin" | "sso";
  /** SSO sessions: sent as X-CSRF-Token. */
  csrfToken?: string;
}

const KEY = "stackyard.session";
const listeners = new Set<() => void>();

export function getSession(): StoredSession | null {
  let raw: string | null = null;
  try {
    raw = sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as StoredSession;
    if (!(s.jwt || s.csrfToken) || s.validUntil * 1000 <= Date.now())
      return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: StoredSession): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
  listeners.forEach((l) => l());
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l());
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Adopts the SSO session of the server's cookie, if any (after /oidc/exchange, or in a
 * new tab): true when one was found. Asks only when the server offers SSO.
 */
export async function adoptSsoSession(): Promise<boolean> {
  try {
    // Without SSO there is no session to adopt: asking would only earn a 401.
    const sso = await fetch("/auth/sso", { credentials: "same-origin" });
    if (!sso.ok || !((await sso.json()) as { enabled?: boolean }).enabled)
      return false;
    const res = await fetch("/auth/session", { credentials: "same-origin" });
    if (!res.ok) return false;
    const body = (await res.json()) as { csrfToken: string; expiresAt: number };
    saveSession({
      jwt: "",
      csrfToken: body.csrfToken,
      validUntil: body.expiresAt,
      via: "sso",
    });
    return true;
  } catch {
    return false;
  }
}

/** Signs out: an SSO session also ends on the server (its cookie is cleared). */
export async function signOut(): Promise<void> {
  const s = getSession();
  if (s?.via === "sso" && s.csrfToken)
    await fetch("/auth/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": s.csrfToken },
    }).catch(() => undefined);
  clearSession();
}
