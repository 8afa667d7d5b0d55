import { createPrivateKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { z } from "zod";
import type { GithubSettings, VcsIntegration } from "../../provider.ts";
import {
  VcsProviderApiError,
  VcsProviderConfigurationError,
} from "../provider-errors.ts";
import {
  apiUrl,
  providerRequest,
  type ProviderHttpDeps,
} from "../provider-http.ts";
import { githubSettings } from "./github-settings.ts";

export const GITHUB_API_HEADERS = {
  accept: "application/vnd.github+json",
  "x-github-api-version": "2022-11-28",
} as const;

/** A cached token is replaced this long before GitHub's `expires_at`. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export interface GithubAppAuthDeps extends ProviderHttpDeps {
  clock: () => Date;
}

export interface InstallationToken {
  token: string;
  expiresAt: Date;
  /** Identifies the cache entry, for `dropToken`. */
  cacheKey: string;
}

interface TokenEntry {
  promise: Promise<InstallationToken>;
  /** Set once the promise resolved; a pending entry is shared by concurrent callers. */
  value?: InstallationToken;
}

const installationSchema = z.object({ id: z.number().int().positive() });
const tokenSchema = z.object({
  token: z.string().min(1),
  expires_at: z.string().min(1),
});

/**
 * GitHub App authentication (docs.github.com "Authenticating as a GitHub App
 * installation"): an RS256 JWT signed with the App's private key (`iss` = App id, `iat`
 * 60 s in the past against clock skew, `exp` 9 minutes ahead, under GitHub's 10-minute
 * cap) finds the repository's installation and exchanges it for an installation token.
 *
 * Cache (per process, per integration): repository → installation id, and installation
 * → token until 5 minutes before its `expires_at`. Concurrent callers share one pending
 * request (single flight); a failed request is removed so the next call tries again. A
 * token GitHub answers 401 to is dropped by `dropToken`, so the queue's retry fetches a
 * new one. Replicas each keep their own cache; GitHub allows many live tokens.
 */
export function createGithubAppAuth(deps: GithubAppAuthDeps) {
  const installations = new Map<string, Promise<number>>();
  const tokens = new Map<string, TokenEntry>();

  const integrationKey = (integration: VcsIntegration, s: GithubSettings) =>
    `${integration.id}\u0000${s.apiUrl}\u0000${s.appId}`;

  async function appJwt(integration: VcsIntegration, s: GithubSettings) {
    let key: KeyObject;
    try {
      key = createPrivateKey(s.privateKeyPem);
    } catch {
      throw new VcsProviderConfigurationError(
        `the GitHub App private key of integration "${integration.name}" is not a PEM private key; paste the .pem file GitHub generated for the App`,
      );
    }
    if (key.asymmetricKeyType !== "rsa")
      throw new VcsProviderConfigurationError(
        `the GitHub App private key of integration "${integration.name}" is a ${key.asymmetricKeyType ?? "unknown"} key; GitHub Apps use RSA keys`,
      );
    const now = Math.floor(deps.clock().getTime() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuedAt(now - 60)
      .setExpirationTime(now + 9 * 60)
      .setIssuer(s.appId)
      .sign(key);
  }

  async function lookUpInstallation(
    integration: VcsIntegration,
    s: GithubSettings,
    owner: string,
    repo: string,
  ): Promise<number> {
    const jwt = await appJwt(integration, s);
    try {
      const res = await providerRequest(deps, {
        provider: "GitHub",
        method: "GET",
        url: apiUrl(
          "GitHub",
          s.apiUrl,
          `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/installation`,
        ),
        headers: { ...GITHUB_API_HEADERS, authorization: `Bearer ${jwt}` },
        secrets: [jwt],
      });
      return parseAnswer(installationSchema, res.body, "installation").id;
    } catch (err) {
      if (err instanceof VcsProviderApiError && err.status === 404)
        throw new VcsProviderApiError(
          "GitHub",
          404,
          false,
          `the GitHub App ${s.appId} is not installed on ${owner}/${repo}; install it on the repository (or its owner) in GitHub`,
          { cause: err },
        );
      throw jwtRefused(err, s);
    }
  }

  async function createToken(
    integration: VcsIntegration,
    s: GithubSettings,
    installationId: number,
    cacheKey: string,
  ): Promise<InstallationToken> {
    const jwt = await appJwt(integration, s);
    const res = await providerRequest(deps, {
      provider: "GitHub",
      method: "POST",
      url: apiUrl(
        "GitHub",
        s.apiUrl,
        `/app/installations/${installationId}/access_tokens`,
      ),
      headers: { ...GITHUB_API_HEADERS, authorization: `Bearer ${jwt}` },
      secrets: [jwt],
    }).catch((err: unknown) => {
      throw jwtRefused(err, s);
    });
    const body = parseAnswer(tokenSchema, res.body, "installation token");
    const expiresAt = new Date(body.expires_at);
    if (Number.isNaN(expiresAt.getTime()))
      throw new VcsProviderApiError(
        "GitHub",
        res.status,
        true,
        `GitHub answered an installation token with an unreadable expires_at`,
      );
    return { token: body.token, expiresAt, cacheKey };
  }

  /** An installation token that can act on `owner/repo`, from the cache when still fresh. */
  async function installationToken(
    integration: VcsIntegration,
    owner: string,
    repo: string,
  ): Promise<InstallationToken> {
    const s = githubSettings(integration);
    const ikey = integrationKey(integration, s);
    const repoKey = `${ikey}\u0000${owner.toLowerCase()}/${repo.toLowerCase()}`;
    let installation = installations.get(repoKey);
    if (!installation) {
      installation = lookUpInstallation(integration, s, owner, repo);
      installations.set(repoKey, installation);
      installation.catch(() => {
        if (installations.get(repoKey) === installation)
          installations.delete(repoKey);
      });
    }
    const installationId = await installation;

    const cacheKey = `${ikey}\u0000${installationId}`;
    const cached = tokens.get(cacheKey);
    const now = deps.clock().getTime();
    if (
      cached &&
      (!cached.value ||
        cached.value.expiresAt.getTime() - REFRESH_MARGIN_MS > now)
    )
      return cached.promise;

    const entry: TokenEntry = {
      promise: createToken(integration, s, installationId, cacheKey),
    };
    tokens.set(cacheKey, entry);
    entry.promise.then(
      (value) => {
        entry.value = value;
      },
      (err: unknown) => {
        if (tokens.get(cacheKey) === entry) tokens.delete(cacheKey);
        // The installation was removed: look it up again next time.
        if (err instanceof VcsProviderApiError && err.status === 404)
          installations.delete(repoKey);
      },
    );
    return entry.promise;
  }

  /** Forgets a token GitHub refused (401), unless a newer one already replaced it. */
  function dropToken(token: InstallationToken) {
    const entry = tokens.get(token.cacheKey);
    if (entry?.value?.token === token.token) tokens.delete(token.cacheKey);
  }

  return { installationToken, dropToken };
}

export type GithubAppAuth = ReturnType<typeof createGithubAppAuth>;

/**
 * GitHub refusing the App JWT (401) means a wrong App id or private key, or a clock far
 * off: trying again cannot help, so it is not retryable.
 */
function jwtRefused(err: unknown, s: GithubSettings): unknown {
  if (!(err instanceof VcsProviderApiError) || err.status !== 401) return err;
  return new VcsProviderApiError(
    "GitHub",
    401,
    false,
    `${err.message} (GitHub refused the JWT of App ${s.appId}; check the integration's App id and private key, and this host's clock)`,
    { cause: err },
  );
}

function parseAnswer<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new VcsProviderApiError(
    "GitHub",
    200,
    true,
    `GitHub answered an unexpected ${what} body (${parsed.error.issues[0]?.path.join(".") || "body"}: ${parsed.error.issues[0]?.message ?? "invalid"})`,
  );
}
