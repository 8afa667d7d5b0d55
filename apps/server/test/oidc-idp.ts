import type { Server } from "node:http";
import Provider from "oidc-provider";
import { freePort } from "./ports.ts";

// A real OpenID Provider (oidc-provider, certified) for the SSO scenarios, in the test
// process: one confidential client (Stackyard), PKCE required, scopes openid, email,
// profile and groups, and a directory of users with their groups. Its built-in
// development interactions are the IdP's login and consent pages.

export interface IdpUser {
  email: string;
  name: string;
  groups: string[];
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

export async function startTestIdp(opts: {
  /** Absent: a free port. */
  port?: number;
  /** The IdP's host name: `localhost` keeps it a different site from Stackyard's 127.0.0.1. */
  host?: string;
  redirectUri: string;
  /** Login name (what the person types at the IdP) → user. */
  users: Record<string, IdpUser>;
}): Promise<TestIdp> {
  const port = opts.port ?? (await freePort());
  const issuer = `http://${opts.host ?? "localhost"}:${port}`;
  const clientId = "stackyard";
  const clientSecret = "stackyard-client-secret-0123456789abcdef";
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [opts.redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    scopes: ["openid", "email", "profile", "groups"],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name"],
      groups: ["groups"],
    },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["test-idp-cookie-key-0123456789abcdef"] },
    ttl: {
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
    },
    findAccount: (_ctx, id) => {
      const user = opts.users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          email: user.email,
          email_verified: true,
          name: user.name,
          groups: user.groups,
        }),
      };
    },
  });
  provider.proxy = false;
  // Every address, so `localhost` answers over IPv4 and IPv6 alike.
  const server: Server = provider.listen(port);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  return {
    issuer,
    clientId,
    clientSecret,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
