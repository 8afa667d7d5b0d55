/**
 * A small GraphQL client for Stackyard's API, shared by the CLI (and later the web UI).
 * It speaks the same protocol as spacectl: exchange an API key for a JWT with
 * `apiKeyUser`, send it as a bearer token, re-exchange shortly before it expires.
 */
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

export interface ApiClient {
  readonly endpoint: string;
  request<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

const EXCHANGE =
  "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt,validUntil}}";

export function createClient(opts: ClientOptions): ApiClient {
  const endpoint = opts.endpoint.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? fetch;
  let session: { jwt: string; validUntil: number } | null = null;

  async function post<T>(
    query: string,
    variables: Record<string, unknown> | undefined,
    jwt: string | null,
  ): Promise<T> {
    let res: Response;
    try {
      res = await doFetch(`${endpoint}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(jwt ? { authorization: `Bearer ${jwt}` } : {}),
        },
        body: JSON.stringify(variables ? { query, variables } : { query }),
      });
    } catch (err) {
      throw new ApiError(
        `cannot reach Stackyard at ${endpoint}: ${(err as Error).message}`,
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
    if (first)
      throw new ApiError(first.message, first.extensions?.code ?? null);
    if (!body.data)
      throw new ApiError(
        `empty response from ${endpoint} (HTTP ${res.status})`,
        null,
      );
    return body.data;
  }

  async function token(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    if (session && now + 30 < session.validUntil) return session.jwt;
    const data = await post<{
      apiKeyUser: { jwt: string; validUntil: number } | null;
    }>(EXCHANGE, { id: opts.apiKeyId, secret: opts.apiKeySecret }, null);
    if (!data.apiKeyUser)
      throw new ApiError(
        "the API key was refused: unknown key id or wrong secret",
        "UNAUTHENTICATED",
      );
    session = data.apiKeyUser;
    return session.jwt;
  }

  return {
    endpoint,
    async request<T>(
      query: string,
      variables?: Record<string, unknown>,
    ): Promise<T> {
      return post<T>(query, variables, await token());
    },
  };
}
