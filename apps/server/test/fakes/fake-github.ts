import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { errors as joseErrors, jwtVerify } from "jose";

/**
 * A fake GitHub REST API for tests: a node:http server speaking GitHub's real wire format
 * for the endpoints a GitHub App integration uses (docs.github.com REST, API version
 * 2022-11-28), so the adapter talks to it unchanged through `apiUrl`.
 *
 * Like GitHub it owns the App: it generates the App's RSA key pair (`app.privateKeyPem`
 * is what an administrator would download) and verifies every App JWT with the public
 * key: RS256 only, `iss` = App id, `exp` in the future and at most 10 minutes ahead,
 * `iat` not in the future; a bad one gets GitHub's 401 JSON. Installation tokens
 * (`ghs_…`) expire after `tokenTtlMs` and only reach their installation's repositories.
 *
 * Endpoints:
 * - GET  /repos/{owner}/{repo}/installation                    (App JWT)
 * - POST /app/installations/{id}/access_tokens                 (App JWT)
 * - POST /repos/{owner}/{repo}/statuses/{sha}                  (installation token)
 * - GET  /repos/{owner}/{repo}/issues/{n}/comments             (token; per_page, page, Link)
 * - POST /repos/{owner}/{repo}/issues/{n}/comments             (token)
 * - PATCH /repos/{owner}/{repo}/issues/comments/{id}           (token)
 */
export interface FakeGithub {
  /** The `apiUrl` to give the integration. */
  url: string;
  app: { id: string; slug: string; privateKeyPem: string };
  /** Installs the App on an owner's repositories (all of them when `repos` is omitted). */
  install(owner: string, repos?: string[]): number;
  /** Statuses created on a repository ("owner/repo"), oldest first; one commit's with `sha`. */
  statuses(repository: string, sha?: string): FakeGithubStatus[];
  /** The comments of an issue or pull request, oldest first. */
  comments(repository: string, number: number): FakeGithubComment[];
  /** A comment by a person (not the App), e.g. one quoting the marker. */
  addUserComment(repository: string, number: number, body: string): number;
  /** The next `count` requests to `route` answer `status` (default 502) instead. */
  failNext(route: FakeGithubRoute, count: number, status?: number): void;
  /** Invalidates every installation token issued so far (as revoking the App would). */
  revokeTokens(): void;
  /** Lifetime of new installation tokens; GitHub's is one hour. */
  tokenTtlMs: number;
  /** Installation tokens issued so far. */
  tokensIssued: number;
  /** Every request, in order, with how it authenticated. */
  requests: Array<{
    method: string;
    path: string;
    auth: "jwt" | "token" | "none";
    /** The JSON body of repository calls, as sent (also for calls answered with a failure). */
    body?: unknown;
  }>;
  close(): Promise<void>;
}

export type FakeGithubRoute =
  | "installation"
  | "access_tokens"
  | "statuses"
  | "comments";

export interface FakeGithubStatus {
  id: number;
  sha: string;
  state: string;
  context: string;
  description: string | null;
  target_url: string | null;
  created_at: string;
}

export interface FakeGithubComment {
  id: number;
  body: string;
  user: { login: string; id: number; type: "Bot" | "User" };
  created_at: string;
  updated_at: string;
}

class GithubError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const DOCS = "https://docs.github.com/rest";
const STATES = new Set(["error", "failure", "pending", "success"]);

export async function startFakeGithub(
  opts: { clock?: () => Date; appId?: string } = {},
): Promise<FakeGithub> {
  const clock = opts.clock ?? (() => new Date());
  const appId = opts.appId ?? String(100_000 + Math.floor(Math.random() * 1e5));
  const slug = "stackyard-test";
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
  });
  const privateKeyPem = privateKey
    .export({ type: "pkcs1", format: "pem" })
    .toString();

  let nextId = 1;
  const installations = new Map<
    number,
    { owner: string; repos: Set<string> | null }
  >();
  const tokens = new Map<string, { installation: number; expiresAt: Date }>();
  const statuses = new Map<string, FakeGithubStatus[]>();
  const comments = new Map<string, FakeGithubComment[]>();
  const failures = new Map<
    FakeGithubRoute,
    { count: number; status: number }
  >();
  const bot = { login: `${slug}[bot]`, id: 9_000_001, type: "Bot" as const };

  const installationFor = (owner: string, repo: string) => {
    for (const [id, inst] of installations)
      if (
        inst.owner.toLowerCase() === owner.toLowerCase() &&
        (!inst.repos || inst.repos.has(repo.toLowerCase()))
      )
        return id;
    return undefined;
  };

  async function verifyAppJwt(authorization: string | undefined) {
    const jwt = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1];
    if (!jwt)
      throw new GithubError(401, "A JSON web token could not be decoded");
    const now = Math.floor(clock().getTime() / 1000);
    let payload;
    try {
      ({ payload } = await jwtVerify(jwt, publicKey, {
        algorithms: ["RS256"],
        currentDate: clock(),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired)
        throw new GithubError(
          401,
          "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        );
      throw new GithubError(401, "A JSON web token could not be decoded");
    }
    if (payload.iss !== appId)
      throw new GithubError(401, "'Issuer' claim ('iss') must be an Integer");
    if (typeof payload.exp !== "number" || payload.exp - now > 600)
      throw new GithubError(
        401,
        "'Expiration time' claim ('exp') is too far in the future",
      );
    if (typeof payload.iat !== "number" || payload.iat > now + 60)
      throw new GithubError(
        401,
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
      );
  }

  function verifyToken(
    authorization: string | undefined,
    owner: string,
    repo: string,
  ) {
    const token = /^(?:Bearer|token) (.+)$/i.exec(authorization ?? "")?.[1];
    const entry = token ? tokens.get(token) : undefined;
    if (!entry || entry.expiresAt.getTime() <= clock().getTime())
      throw new GithubError(401, "Bad credentials");
    const inst = installations.get(entry.installation);
    if (
      !inst ||
      inst.owner.toLowerCase() !== owner.toLowerCase() ||
      (inst.repos && !inst.repos.has(repo.toLowerCase()))
    )
      throw new GithubError(404, "Not Found");
  }

  function maybeFail(route: FakeGithubRoute) {
    const f = failures.get(route);
    if (!f || f.count <= 0) return;
    f.count--;
    throw new GithubError(
      f.status,
      f.status >= 500
        ? "Server Error"
        : (http.STATUS_CODES[f.status] ?? "Error"),
    );
  }

  const requests: FakeGithub["requests"] = [];
  const key = (owner: string, repo: string) => `${owner}/${repo}`.toLowerCase();
  const issueKey = (owner: string, repo: string, n: number) =>
    `${key(owner, repo)}#${n}`;
  const commentJson = (
    owner: string,
    repo: string,
    n: number,
    c: FakeGithubComment,
  ) => ({
    ...c,
    node_id: `IC_${c.id}`,
    url: `${base}/repos/${owner}/${repo}/issues/comments/${c.id}`,
    html_url: `https://github.com/${owner}/${repo}/pull/${n}#issuecomment-${c.id}`,
    issue_url: `${base}/repos/${owner}/${repo}/issues/${n}`,
    author_association: c.user.type === "Bot" ? "NONE" : "MEMBER",
    performed_via_github_app:
      c.user.type === "Bot" ? { id: Number(appId), slug, name: slug } : null,
  });
  const findComment = (owner: string, repo: string, id: number) => {
    const prefix = `${key(owner, repo)}#`;
    for (const [k, list] of comments)
      if (k.startsWith(prefix)) {
        const c = list.find((x) => x.id === id);
        if (c) return { comment: c, number: Number(k.slice(prefix.length)) };
      }
    return undefined;
  };

  async function handle(
    req: http.IncomingMessage,
    url: URL,
    body: unknown,
  ): Promise<{
    status: number;
    body: unknown;
    headers?: Record<string, string>;
  }> {
    const method = req.method ?? "GET";
    const auth = req.headers.authorization;
    if (!req.headers["user-agent"])
      throw new GithubError(
        403,
        "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.",
      );
    const parts = url.pathname.split("/").slice(1).map(decodeURIComponent);
    const [a, b, c, d, e, f] = parts;

    // GET /repos/{owner}/{repo}/installation
    if (
      method === "GET" &&
      a === "repos" &&
      b &&
      c &&
      d === "installation" &&
      parts.length === 4
    ) {
      requests.push({ method, path: url.pathname, auth: "jwt" });
      await verifyAppJwt(auth);
      maybeFail("installation");
      const id = installationFor(b, c);
      if (id === undefined) throw new GithubError(404, "Not Found");
      return {
        status: 200,
        body: {
          id,
          app_id: Number(appId),
          app_slug: slug,
          target_type: "Organization",
          account: {
            login: installations.get(id)?.owner,
            type: "Organization",
          },
          repository_selection: installations.get(id)?.repos
            ? "selected"
            : "all",
          access_tokens_url: `${base}/app/installations/${id}/access_tokens`,
          permissions: {
            statuses: "write",
            pull_requests: "write",
            contents: "read",
            metadata: "read",
          },
          events: ["push", "pull_request"],
        },
      };
    }

    // POST /app/installations/{id}/access_tokens
    if (
      method === "POST" &&
      a === "app" &&
      b === "installations" &&
      c &&
      d === "access_tokens" &&
      parts.length === 4
    ) {
      requests.push({ method, path: url.pathname, auth: "jwt" });
      await verifyAppJwt(auth);
      maybeFail("access_tokens");
      const id = Number(c);
      const inst = installations.get(id);
      if (!inst) throw new GithubError(404, "Not Found");
      const token = `ghs_${randomBytes(18).toString("base64url").replace(/[-_]/g, "x")}`;
      const expiresAt = new Date(clock().getTime() + fake.tokenTtlMs);
      tokens.set(token, { installation: id, expiresAt });
      fake.tokensIssued++;
      return {
        status: 201,
        body: {
          token,
          expires_at: expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
          permissions: {
            statuses: "write",
            pull_requests: "write",
            contents: "read",
            metadata: "read",
          },
          repository_selection: inst.repos ? "selected" : "all",
        },
      };
    }

    if (a !== "repos" || !b || !c) throw new GithubError(404, "Not Found");
    const owner = b;
    const repo = c;
    requests.push({
      method,
      path: url.pathname,
      auth: auth ? "token" : "none",
      body,
    });

    // POST /repos/{owner}/{repo}/statuses/{sha}
    if (method === "POST" && d === "statuses" && e && parts.length === 5) {
      verifyToken(auth, owner, repo);
      maybeFail("statuses");
      const input = (body ?? {}) as Record<string, unknown>;
      if (typeof input["state"] !== "string" || !STATES.has(input["state"]))
        throw new GithubError(422, "Validation Failed", {
          errors: [
            {
              resource: "Status",
              code: "custom",
              field: "state",
              message: "state is not included in the list",
            },
          ],
        });
      const description = input["description"];
      if (typeof description === "string" && description.length > 140)
        throw new GithubError(422, "Validation Failed", {
          errors: [
            {
              resource: "Status",
              code: "custom",
              field: "description",
              message: "description is too long (maximum is 140 characters)",
            },
          ],
        });
      const created: FakeGithubStatus = {
        id: nextId++,
        sha: e,
        state: input["state"],
        context:
          typeof input["context"] === "string" ? input["context"] : "default",
        description: typeof description === "string" ? description : null,
        target_url:
          typeof input["target_url"] === "string" ? input["target_url"] : null,
        created_at: clock().toISOString(),
      };
      const list = statuses.get(key(owner, repo)) ?? [];
      list.push(created);
      statuses.set(key(owner, repo), list);
      return {
        status: 201,
        body: {
          ...created,
          url: `${base}/repos/${owner}/${repo}/statuses/${e}`,
          node_id: `SC_${created.id}`,
          updated_at: created.created_at,
          creator: bot,
        },
      };
    }

    // GET|POST /repos/{owner}/{repo}/issues/{n}/comments
    if (
      d === "issues" &&
      e &&
      /^\d+$/.test(e) &&
      f === "comments" &&
      parts.length === 6
    ) {
      verifyToken(auth, owner, repo);
      maybeFail("comments");
      const n = Number(e);
      const list = comments.get(issueKey(owner, repo, n)) ?? [];
      if (method === "GET") {
        const perPage = Math.min(
          Number(url.searchParams.get("per_page") ?? 30) || 30,
          100,
        );
        const page = Math.max(
          Number(url.searchParams.get("page") ?? 1) || 1,
          1,
        );
        const slice = list.slice((page - 1) * perPage, page * perPage);
        const headers: Record<string, string> = {};
        const last = Math.max(Math.ceil(list.length / perPage), 1);
        if (page < last) {
          const link = (p: number) => {
            const u = new URL(url.href);
            u.searchParams.set("page", String(p));
            return u.href;
          };
          headers["link"] =
            `<${link(page + 1)}>; rel="next", <${link(last)}>; rel="last"`;
        }
        return {
          status: 200,
          body: slice.map((x) => commentJson(owner, repo, n, x)),
          headers,
        };
      }
      if (method === "POST") {
        const text = (body as Record<string, unknown> | null)?.["body"];
        if (typeof text !== "string" || !text)
          throw new GithubError(
            422,
            'Invalid request.\n\n"body" wasn\'t supplied.',
          );
        const now = clock().toISOString();
        const created: FakeGithubComment = {
          id: nextId++,
          body: text,
          user: bot,
          created_at: now,
          updated_at: now,
        };
        list.push(created);
        comments.set(issueKey(owner, repo, n), list);
        return { status: 201, body: commentJson(owner, repo, n, created) };
      }
    }

    // PATCH /repos/{owner}/{repo}/issues/comments/{id}
    if (
      method === "PATCH" &&
      d === "issues" &&
      e === "comments" &&
      f &&
      parts.length === 6
    ) {
      verifyToken(auth, owner, repo);
      maybeFail("comments");
      const found = findComment(owner, repo, Number(f));
      if (!found) throw new GithubError(404, "Not Found");
      if (found.comment.user.type !== "Bot")
        throw new GithubError(403, "Resource not accessible by integration");
      const text = (body as Record<string, unknown> | null)?.["body"];
      if (typeof text !== "string" || !text)
        throw new GithubError(
          422,
          'Invalid request.\n\n"body" wasn\'t supplied.',
        );
      found.comment.body = text;
      found.comment.updated_at = clock().toISOString();
      return {
        status: 200,
        body: commentJson(owner, repo, found.number, found.comment),
      };
    }

    throw new GithubError(404, "Not Found");
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1 << 20) chunks.push(chunk);
    });
    req.on("end", () => {
      const send = (
        status: number,
        payload: unknown,
        headers: Record<string, string> = {},
      ) => {
        res.writeHead(status, {
          "content-type": "application/json; charset=utf-8",
          "x-github-request-id": randomUUID().toUpperCase(),
          "x-github-api-version-selected": "2022-11-28",
          ...headers,
        });
        res.end(JSON.stringify(payload));
      };
      let body: unknown = null;
      const text = Buffer.concat(chunks).toString("utf8");
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          send(400, {
            message: "Problems parsing JSON",
            documentation_url: DOCS,
          });
          return;
        }
      }
      handle(req, new URL(req.url ?? "/", base), body).then(
        (answer) => send(answer.status, answer.body, answer.headers),
        (err: unknown) => {
          if (err instanceof GithubError)
            send(err.status, {
              message: err.message,
              documentation_url: DOCS,
              ...err.extra,
              status: String(err.status),
            });
          else send(500, { message: String(err) });
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  const fake: FakeGithub = {
    url: base,
    app: { id: appId, slug, privateKeyPem },
    install(owner, repos) {
      const id = 40_000_000 + nextId++;
      installations.set(id, {
        owner,
        repos: repos ? new Set(repos.map((r) => r.toLowerCase())) : null,
      });
      return id;
    },
    statuses(repository, sha) {
      const list = statuses.get(repository.toLowerCase()) ?? [];
      return sha ? list.filter((s) => s.sha === sha) : [...list];
    },
    comments(repository, number) {
      return [...(comments.get(`${repository.toLowerCase()}#${number}`) ?? [])];
    },
    addUserComment(repository, number, body) {
      const k = `${repository.toLowerCase()}#${number}`;
      const now = clock().toISOString();
      const c: FakeGithubComment = {
        id: nextId++,
        body,
        user: { login: "octocat", id: 583231, type: "User" },
        created_at: now,
        updated_at: now,
      };
      comments.set(k, [...(comments.get(k) ?? []), c]);
      return c.id;
    },
    failNext(route, count, status = 502) {
      failures.set(route, { count, status });
    },
    revokeTokens() {
      tokens.clear();
    },
    tokenTtlMs: 60 * 60_000,
    tokensIssued: 0,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
