import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { REDACT_PATHS } from "../log/logger.ts";
import { redactUrlTokens } from "../log/redact-url.ts";
import {
  createHttpServer,
  createMetricsRegistry,
  DEFAULT_BODY_LIMIT_BYTES,
} from "./http-server.ts";

const JWT =
  "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyOmFkbWluIn0.c2lnbmF0dXJlLXBhcnQ";

function capturedServer(opts: { trustedProxies?: string[] } = {}) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  const log = pino(
    { level: "info", redact: { paths: REDACT_PATHS, censor: "<redacted>" } },
    sink,
  );
  const app = createHttpServer({
    log,
    readiness: [],
    metrics: createMetricsRegistry({ service: "test" }),
    ...opts,
  });
  return { app, lines };
}

describe("createHttpServer", () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("refuses a body over the default limit with 413 naming the limit and the route", async () => {
    const s = capturedServer();
    app = s.app;
    app.post("/echo", async (req) => ({
      size: JSON.stringify(req.body).length,
    }));
    app.post("/big", { bodyLimit: 4 * DEFAULT_BODY_LIMIT_BYTES }, async () => ({
      ok: true,
    }));
    const payload = JSON.stringify({ data: "x".repeat(2 * 1024 * 1024) });
    const res = await app.inject({
      method: "POST",
      url: "/echo",
      headers: { "content-type": "application/json" },
      payload,
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      error: "PAYLOAD_TOO_LARGE",
      message: "the request body is larger than the 1 MiB POST /echo accepts",
    });
    const big = await app.inject({
      method: "POST",
      url: "/big",
      headers: { "content-type": "application/json" },
      payload,
    });
    expect(big.statusCode).toBe(200);
  });

  it("never logs the tokens of transfer URLs or ?token=", async () => {
    const s = capturedServer();
    app = s.app;
    app.get("/state-download/*", async () => ({ ok: true }));
    app.get("/api/v1/stacks/:s/runs/:r/events", async () => {
      throw new Error("failed on purpose");
    });
    await app.inject({ url: `/state-download/${JWT}` });
    await app.inject({ url: `/uploads/upl-secret-123` });
    await app.inject({
      url: `/api/v1/stacks/s/runs/r/events?token=${JWT}&x=1`,
    });
    const all = s.lines.join("");
    expect(all).toContain("/state-download/<redacted>");
    expect(all).toContain("/uploads/<redacted>");
    expect(all).toContain(
      "/api/v1/stacks/s/runs/r/events?token=<redacted>&x=1",
    );
    expect(all).toContain("failed on purpose");
    expect(all).not.toContain(JWT);
    expect(all).not.toContain("upl-secret-123");
    expect(all).not.toContain("c2lnbmF0dXJl");
  });

  it("takes the client address from the socket unless the peer is a trusted proxy", async () => {
    const direct = capturedServer();
    app = direct.app;
    app.get("/ip", async (req) => ({ ip: req.ip }));
    const spoofed = await app.inject({
      url: "/ip",
      remoteAddress: "198.51.100.7",
      headers: { "x-forwarded-for": "10.0.0.1" },
    });
    expect(spoofed.json()).toEqual({ ip: "198.51.100.7" });
    await app.close();

    const proxied = capturedServer({ trustedProxies: ["198.51.100.0/24"] });
    app = proxied.app;
    app.get("/ip", async (req) => ({ ip: req.ip }));
    const viaProxy = await app.inject({
      url: "/ip",
      remoteAddress: "198.51.100.7",
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    expect(viaProxy.json()).toEqual({ ip: "203.0.113.9" });
    const notProxy = await app.inject({
      url: "/ip",
      remoteAddress: "192.0.2.1",
      headers: { "x-forwarded-for": "203.0.113.9" },
    });
    expect(notProxy.json()).toEqual({ ip: "192.0.2.1" });
  });
});

describe("redactUrlTokens", () => {
  it("redacts credential query parameters, transfer paths and JWTs, and nothing else", () => {
    expect(redactUrlTokens("/graphql")).toBe("/graphql");
    expect(redactUrlTokens("/x?Token=abc&limit=5")).toBe(
      "/x?Token=<redacted>&limit=5",
    );
    expect(redactUrlTokens("/x?X-Amz-Signature=abc")).toBe(
      "/x?X-Amz-Signature=<redacted>",
    );
    expect(redactUrlTokens(`/anything/${JWT}/more`)).toBe(
      "/anything/<redacted>/more",
    );
    expect(redactUrlTokens(`/x?next=${JWT}`)).toBe("/x?next=<redacted>");
    expect(redactUrlTokens("/uploads/")).toBe("/uploads/");
  });

  it("is linear on a long hostile URL", () => {
    const hostile = `/x?${"eyJ".repeat(30_000)}.${"a-".repeat(30_000)}`;
    const started = Date.now();
    redactUrlTokens(hostile);
    expect(Date.now() - started).toBeLessThan(200);
  });
});
