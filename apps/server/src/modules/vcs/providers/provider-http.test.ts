import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VcsProviderApiError } from "./provider-errors.ts";
import { apiUrl, nextPageUrl, providerRequest } from "./provider-http.ts";

let server: http.Server;
let base: string;
let redirectHits = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/echo-token") {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          message: `token ${String(req.headers["private-token"])} lacks the api scope`,
        }),
      );
    } else if (req.url === "/moved") {
      res.writeHead(301, { location: "/elsewhere" });
      res.end();
    } else if (req.url === "/elsewhere") {
      redirectHits++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    } else if (req.url === "/validation") {
      res.writeHead(422, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          message: "Validation Failed",
          errors: [{ resource: "Status", field: "state", code: "invalid" }],
        }),
      );
    } else if (req.url === "/gitlab-fields") {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: { name: ["is too long"] } }));
    } else if (req.url === "/rate-limited") {
      res.writeHead(403, {
        "content-type": "application/json",
        "x-ratelimit-remaining": "0",
      });
      res.end(JSON.stringify({ message: "API rate limit exceeded" }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const deps = { fetch: globalThis.fetch, timeoutMs: 5_000 };

async function failure(path: string, token = "glpat-secret-value") {
  try {
    await providerRequest(deps, {
      provider: "GitLab",
      method: "GET",
      url: new URL(path, base),
      headers: { "private-token": token },
      secrets: [token],
    });
  } catch (err) {
    expect(err).toBeInstanceOf(VcsProviderApiError);
    return err as VcsProviderApiError;
  }
  throw new Error("expected the request to fail");
}

describe("provider requests", () => {
  it("redacts a token the provider echoes in its message", async () => {
    const err = await failure("/echo-token");
    expect(err.message).toBe(
      "GitLab GET /echo-token answered 403: token [redacted] lacks the api scope",
    );
    expect(err.retryable).toBe(false);
  });

  it("reports a redirect instead of following it with the token", async () => {
    const err = await failure("/moved");
    expect([err.status, err.retryable]).toEqual([301, false]);
    expect(redirectHits).toBe(0);
  });

  it("names the fields of a validation error (GitHub and GitLab shapes)", async () => {
    expect((await failure("/validation")).message).toBe(
      "GitLab GET /validation answered 422: Validation Failed; state invalid",
    );
    expect((await failure("/gitlab-fields")).message).toBe(
      "GitLab GET /gitlab-fields answered 400: name is too long",
    );
  });

  it("treats a spent rate limit as retryable", async () => {
    const err = await failure("/rate-limited");
    expect([err.status, err.retryable]).toEqual([403, true]);
  });
});

describe("pagination links", () => {
  const current = new URL("https://api.github.com/repos/a/b/issues/1/comments");

  it("follows rel=next on the same origin", () => {
    const headers = new Headers({
      link: '<https://api.github.com/repositories/1/issues/1/comments?page=2>; rel="next", <https://api.github.com/repositories/1/issues/1/comments?page=4>; rel="last"',
    });
    expect(nextPageUrl(headers, current)?.href).toBe(
      "https://api.github.com/repositories/1/issues/1/comments?page=2",
    );
  });

  it("stops on the last page and at a link to another origin", () => {
    expect(
      nextPageUrl(
        new Headers({ link: '<https://api.github.com/x?page=1>; rel="prev"' }),
        current,
      ),
    ).toBeNull();
    expect(
      nextPageUrl(
        new Headers({
          link: '<https://evil.example.com/x?page=2>; rel="next"',
        }),
        current,
      ),
    ).toBeNull();
  });
});

describe("API URLs", () => {
  it("keeps the base path of GitHub Enterprise and adds the query", () => {
    expect(
      apiUrl("GitHub", "https://ghe.example.com/api/v3/", "/repos/a/b", {
        per_page: "100",
      }).href,
    ).toBe("https://ghe.example.com/api/v3/repos/a/b?per_page=100");
  });

  it("refuses an API URL that is not a URL, saying how to fix it", () => {
    expect(() => apiUrl("GitHub", "api.github.com", "/x")).toThrow(
      /set settings.apiUrl to e.g. https:\/\/api.github.com/,
    );
  });
});
