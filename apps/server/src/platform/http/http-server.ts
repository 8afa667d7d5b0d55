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
import { isAppError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface HttpServerOptions {
  log: Logger;
  readiness: ReadinessCheck[];
  metrics: Registry;
  /** Upper bound on request bodies (state uploads are the largest legitimate ones). */
  bodyLimitBytes?: number;
}

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
    loggerInstance: opts.log.child({
      component: "http",
    }) as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimitBytes ?? 110 * 1024 * 1024,
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
    if (isAppError(err)) {
      return reply
        .status(err.httpStatus)
        .send({ error: err.code, message: err.message });
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
