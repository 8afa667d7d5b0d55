import { useCallback, useEffect, useRef, useState } from "react";
import {
  ApiError,
  createSessionClient,
  type ApiClient,
  type GraphQLOperation,
  type ResultOf,
} from "@stackyard/api-client";

/** Variables of a generated operation; unchecked when only the result type was given. */
type VariablesOf<V> = [V] extends [never] ? Record<string, unknown> : V;
import { navigate } from "../routes/router.tsx";
import { clearSession, getSession } from "./session.ts";

/** The one GraphQL client of the UI: same origin, the session's bearer token. */
export const api: ApiClient = createSessionClient({
  endpoint: window.location.origin,
  getToken: () => getSession()?.jwt || null,
  getHeaders: (): Record<string, string> => {
    const csrf = getSession()?.csrfToken;
    return csrf ? { "x-csrf-token": csrf } : {};
  },
  onUnauthorized: () => {
    clearSession();
    const here = window.location.pathname + window.location.search;
    navigate(`/login?expired=1&next=${encodeURIComponent(here)}`, {
      replace: true,
    });
  },
});

/** Turns any failure into a sentence a person can act on (never raw JSON). */
export function friendlyError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === "UNAVAILABLE")
      return "Cannot reach the Stackyard server. Check that it is running, then try again.";
    if (/^unauthorized$/i.test(err.message))
      return "Your session has ended. Please sign in again.";
    if (err.message === "internal error")
      return "The server hit an unexpected error. Its log has the details; try again in a moment.";
    return capitalize(err.message);
  }
  if (err instanceof Error) return capitalize(err.message);
  return "Something went wrong.";
}

function capitalize(s: string): string {
  const t = s.trim();
  const sentence = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

export interface QueryState<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload(): Promise<void>;
}

interface QueryOptions {
  pollMs?: number;
  skip?: boolean;
}

/**
 * Runs `query` now and whenever its variables change; `pollMs` refreshes it quietly in
 * the background (no loading flicker) while the page is visible. Only generated
 * operations (`@stackyard/api-client`) are taken, so the variables and the data are typed
 * from the SDL.
 */
export function useQuery<T, V extends Record<string, unknown> = never>(
  query: GraphQLOperation<T, V>,
  variables?: VariablesOf<V>,
  opts?: QueryOptions,
): QueryState<T>;
export function useQuery<T>(
  query: string,
  variables?: Record<string, unknown>,
  opts: QueryOptions = {},
): QueryState<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(!opts.skip);
  const key = JSON.stringify(variables ?? null);
  const generation = useRef(0);

  const run = useCallback(
    async (quiet: boolean) => {
      const mine = ++generation.current;
      if (!quiet) setLoading(true);
      try {
        const result = await api.request<T>(
          query,
          JSON.parse(key) as Record<string, unknown> | undefined,
        );
        if (mine !== generation.current) return;
        setData(result);
        setError(null);
      } catch (err) {
        if (mine !== generation.current) return;
        setError(friendlyError(err));
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [query, key],
  );

  useEffect(() => {
    if (opts.skip) return;
    void run(false);
    if (!opts.pollMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void run(true);
    }, opts.pollMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [run, opts.pollMs, opts.skip]);

  const reload = useCallback(() => run(true), [run]);
  return { data, error, loading, reload };
}

export interface MutationState<T, V> {
  mutate(variables: V): Promise<T | null>;
  pending: boolean;
  error: string | null;
  reset(): void;
}

/** A mutation with its own pending flag and in-place error. */
export function useMutation<T, V extends Record<string, unknown> = never>(
  query: GraphQLOperation<T, V>,
): MutationState<T, VariablesOf<V>>;
/**
 * One of several generated operations chosen at run time (e.g. the stack's or the
 * context's variant): the data is the union of their results, the variables unchecked.
 */
export function useMutation<D extends GraphQLOperation<unknown, never>>(
  query: D,
): MutationState<ResultOf<D>, Record<string, unknown>>;
export function useMutation<T>(
  query: string,
): MutationState<T, Record<string, unknown>> {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mutate = useCallback(
    async (variables: Record<string, unknown>) => {
      setPending(true);
      setError(null);
      try {
        return await api.request<T>(query, variables);
      } catch (err) {
        setError(friendlyError(err));
        return null;
      } finally {
        setPending(false);
      }
    },
    [query],
  );
  return { mutate, pending, error, reset: () => setError(null) };
}
