import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from "fastify";
import {
  collectDefaultMetrics,
  Counter,
  Histogram,
  Registry,
} from "prom-client";
import { isAppError, RateLimitedError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { redactUrlTokens } from "../log/redact-url.ts";

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface HttpServerOptions {
  log: Logger;
  readiness: ReadinessCheck[];
  metrics: Registry;
  /**
   * Body limit of every route that does not set its own. Routes that take large bodies
   * (state, uploads, the worker API, webhooks, GraphQL) set their own `bodyLimit` and
   * authenticate in `onRequest`, before the body is read.
   */
  bodyLimitBytes?: number;
  /**
   * Proxies whose `X-Forwarded-For` is believed (hosts or CIDRs, STACKYARD_TRUSTED_PROXIES).
   * Empty: `req.ip` is the socket's peer address and the header is ignored.
   */
  trustedProxies?: readonly string[];
}

/** What a route accepts unless it says otherwise: JSON requests of the API, logins. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

export function createMetricsRegistry(
  defaultLabels: Record<string, string>,
): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The Fastify instance with what every role's HTTP surface shares: request ids on every
 * log line, `/livez`, `/readyz` (each dependency checked, failures named), `/metrics`,
 * and the one error handler that maps AppError codes to statuses.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    // Request log lines carry the URL without the tokens some URLs hold (redact-url.ts).
    loggerInstance: opts.log.child(
      { component: "http" },
      { serializers: { req: serializeRequest } },
    ) as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    trustProxy:
      opts.trustedProxies && opts.trustedProxies.length > 0
        ? [...opts.trustedProxies]
        : false,
    genReqId: () => `req_${Math.random().toString(36).slice(2, 12)}`,
    disableRequestLogging: false,
  });

  const requests = new Counter({
    name: "stackyard_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["method", "route", "status"],
    registers: [opts.metrics],
  });
  const latency = new Histogram({
    name: "stackyard_http_request_duration_seconds",
    help: "HTTP request latency",
    labelNames: ["method", "route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [opts.metrics],
  });
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    requests.inc({
      method: req.method,
      route,
      status: String(reply.statusCode),
    });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof RateLimitedError)
      void reply.header("retry-after", String(err.retryAfterSeconds));
    if (isAppError(err)) {
      return reply
        .status(err.httpStatus)
        .send({ error: err.code, message: err.message });
    }
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      const limit = req.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES;
      return reply.status(413).send({
        error: "PAYLOAD_TOO_LARGE",
        message: `the request body is larger than the ${formatBytes(limit)} ${req.method} ${req.routeOptions.url ?? req.url.split("?")[0]} accepts`,
      });
    }
    if (err.validation || (err.statusCode && err.statusCode < 500)) {
      return reply
        .status(err.statusCode ?? 400)
        .send({ error: err.code ?? "BAD_REQUEST", message: err.message });
    }
    req.log.error({ err }, "request failed");
    return reply
      .status(500)
      .send({ error: "INTERNAL", message: "internal error" });
  });

  // Fastify's own 404 logs and answers the raw URL; this one redacts its tokens.
  app.setNotFoundHandler((req, reply) => {
    const message = `Route ${req.method}:${redactUrlTokens(req.url)} not found`;
    req.log.info(message);
    return reply
      .code(404)
      .send({ message, error: "Not Found", statusCode: 404 });
  });

  app.get("/livez", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const results = await Promise.all(
      opts.readiness.map(async (c) => {
        try {
          await withTimeout(c.check(), 5000);
          return { name: c.name, ok: true as const };
        } catch (err) {
          return {
            name: c.name,
            ok: false as const,
            error: err instanceof Error ? err.message : String(err),
          };
        }
      }),
    );
    const ok = results.every((r) => r.ok);
    return reply
      .status(ok ? 200 : 503)
      .send({ status: ok ? "ok" : "unavailable", checks: results });
  });
  app.get("/metrics", async (_req, reply) => {
    return reply
      .header("content-type", opts.metrics.contentType)
      .send(await opts.metrics.metrics());
  });
  return app;
}

/** Fastify's request serializer, with the URL's tokens redacted. */
export function serializeRequest(req: {
  method?: string;
  url?: string;
  ip?: string;
  host?: string;
  socket?: { remotePort?: number };
}): Record<string, unknown> {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : redactUrlTokens(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 && n % (1024 * 1024) === 0
    ? `${n / 1024 / 1024} MiB`
    : `${n} bytes`;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
