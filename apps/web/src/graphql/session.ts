/**
 * The signed-in session: the JWT the server issued, kept in sessionStorage so it lives
 * as long as the tab and never leaves this origin. `via` records how the user signed in
 * (an SSO login would add its own kind here).
 */
export interface StoredSession {
  jwt: string;
  /** Unix seconds. */
  validUntil: number;
  via: "apiKey" | "admin";
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
    if (!s.jwt || s.validUntil * 1000 <= Date.now()) return null;
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
