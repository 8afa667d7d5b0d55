/**
 * A small GraphQL client for Stackyard's API, shared by the CLI and the web UI.
 * It speaks the same protocol as spacectl: exchange an API key for a JWT with
 * `apiKeyUser`, send it as a bearer token, re-exchange shortly before it expires.
 * The web UI keeps the JWT itself (sessionStorage) and uses `createSessionClient`.
 */
import {
  ApiKeyUserDocument,
  type ApiKeyUserMutation,
  type GraphQLOperation,
} from "./generated/operations.ts";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ClientOptions {
  endpoint: string;
  apiKeyId: string;
  apiKeySecret: string;
  fetch?: typeof fetch;
}

export interface SessionClientOptions {
  endpoint: string;
  /** The bearer token to send, or null when signed out. */
  getToken(): string | null;
  /** Extra headers per request (the CSRF token of a cookie session). */
  getHeaders?(): Record<string, string>;
  /** Called when the server answers `unauthorized` (expired or revoked session). */
  onUnauthorized?(): void;
  fetch?: typeof fetch;
}

/**
 * Operation text that is not a generated operation (e.g. an ad-hoc query). A generated
 * `GraphQLOperation` is refused here, so it always takes the typed overloads.
 */
export type OperationText = string & { __apiType?: undefined };

/**
 * The variables argument of a generated operation: optional when none is required.
 * `never` (the result type given explicitly, variables not inferred) leaves them unchecked.
 */
export type VariablesArgs<TVariables> = [TVariables] extends [never]
  ? [variables?: Record<string, unknown>]
  : Record<string, never> extends TVariables
    ? [variables?: TVariables]
    : [variables: TVariables];

export interface ApiClient {
  readonly endpoint: string;
  /** A generated operation (see operations.ts): variables and result typed from the SDL. */
  request<TResult, TVariables extends Record<string, unknown> = never>(
    operation: GraphQLOperation<TResult, TVariables>,
    ...variables: VariablesArgs<TVariables>
  ): Promise<TResult>;
  /** Any other operation text; `T` is the shape the caller expects back, unchecked. */
  request<T = unknown>(
    query: OperationText,
    variables?: Record<string, unknown>,
  ): Promise<T>;
}

export interface IssuedToken {
  jwt: string;
  /** Unix seconds. */
  validUntil: number;
}

function trimEndpoint(endpoint: string): string {
  return endpoint.replace(/\/+$/, "");
}

async function post<T>(
  doFetch: typeof fetch,
  endpoint: string,
  query: string,
  variables: Record<string, unknown> | undefined,
  jwt: string | null,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  let res: Response;
  try {
    res = await doFetch(`${endpoint}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...extraHeaders,
        ...(jwt ? { authorization: `Bearer ${jwt}` } : {}),
      },
      body: JSON.stringify(variables ? { query, variables } : { query }),
    });
  } catch (err) {
    throw new ApiError(
      `cannot reach Stackyard at ${endpoint || "this address"}: ${(err as Error).message}`,
      "UNAVAILABLE",
    );
  }
  const text = await res.text();
  let body: {
    data?: T;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new ApiError(
      `unexpected response from ${endpoint} (HTTP ${res.status}): ${text.slice(0, 200)}`,
      null,
    );
  }
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.message, first.extensions?.code ?? null);
  if (!body.data)
    throw new ApiError(
      `empty response from ${endpoint} (HTTP ${res.status})`,
      null,
    );
  return body.data;
}

/** Exchanges an API key (id + secret, as `stackyard up` prints them) for a session JWT. */
export async function exchangeApiKey(
  endpoint: string,
  key: { id: string; secret: string },
  doFetch: typeof fetch = fetch,
): Promise<IssuedToken> {
  const data = await post<ApiKeyUserMutation>(
    doFetch,
    trimEndpoint(endpoint),
    ApiKeyUserDocument,
    { id: key.id, secret: key.secret },
    null,
  );
  if (!data.apiKeyUser)
    throw new ApiError(
      "the API key was refused: unknown key id or wrong secret",
      "UNAUTHENTICATED",
    );
  return data.apiKeyUser;
}

/** The break-glass admin login (`POST /admin-login`), when the server has it enabled. */
export async function adminLogin(
  endpoint: string,
  credentials: { username: string; password: string },
  doFetch: typeof fetch = fetch,
): Promise<IssuedToken> {
  const base = trimEndpoint(endpoint);
  let res: Response;
  try {
    res = await doFetch(`${base}/admin-login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(credentials),
    });
  } catch (err) {
    throw new ApiError(
      `cannot reach Stackyard at ${base || "this address"}: ${(err as Error).message}`,
      "UNAVAILABLE",
    );
  }
  const body = (await res.json().catch(() => ({}))) as {
    token?: string;
    expiresAt?: number | string;
    message?: string;
    error?: string;
  };
  if (!res.ok || !body.token)
    throw new ApiError(
      body.message ?? `sign-in failed (HTTP ${res.status})`,
      body.error ?? null,
    );
  const exp =
    typeof body.expiresAt === "number"
      ? body.expiresAt > 1e12
        ? Math.floor(body.expiresAt / 1000)
        : body.expiresAt
      : body.expiresAt
        ? Math.floor(Date.parse(body.expiresAt) / 1000)
        : Math.floor(Date.now() / 1000) + 3600;
  return { jwt: body.token, validUntil: exp };
}

export function createClient(opts: ClientOptions): ApiClient {
  const endpoint = trimEndpoint(opts.endpoint);
  const doFetch = opts.fetch ?? fetch;
  let session: IssuedToken | null = null;

  async function token(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    if (session && now + 30 < session.validUntil) return session.jwt;
    session = await exchangeApiKey(
      endpoint,
      { id: opts.apiKeyId, secret: opts.apiKeySecret },
      doFetch,
    );
    return session.jwt;
  }

  return {
    endpoint,
    request: typedRequest(async (query, variables) =>
      post(doFetch, endpoint, query, variables, await token()),
    ),
  };
}

/** A client for a caller that already holds a session token (the web UI). */
export function createSessionClient(opts: SessionClientOptions): ApiClient {
  const endpoint = trimEndpoint(opts.endpoint);
  const doFetch = opts.fetch ?? fetch;
  return {
    endpoint,
    request: typedRequest(async (query, variables) => {
      try {
        return await post(
          doFetch,
          endpoint,
          query,
          variables,
          opts.getToken(),
          opts.getHeaders?.(),
        );
      } catch (err) {
        if (
          err instanceof ApiError &&
          (err.code === "UNAUTHENTICATED" || /unauthorized/i.test(err.message))
        )
          opts.onUnauthorized?.();
        throw err;
      }
    }),
  };
}

/**
 * `ApiClient.request` over one untyped sender. The operation text goes out unchanged;
 * the result is what the server answered for it, whose shape the generated types
 * describe (or, for plain text, the caller asserts).
 */
function typedRequest(
  send: (
    query: string,
    variables: Record<string, unknown> | undefined,
  ) => Promise<unknown>,
): ApiClient["request"] {
  function request<TResult, TVariables extends Record<string, unknown> = never>(
    operation: GraphQLOperation<TResult, TVariables>,
    ...variables: VariablesArgs<TVariables>
  ): Promise<TResult>;
  function request<T = unknown>(
    query: OperationText,
    variables?: Record<string, unknown>,
  ): Promise<T>;
  function request(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<unknown> {
    return send(query, variables);
  }
  return request;
}
