import type { App } from "../app.ts";
import { createHttpServer } from "../platform/http/http-server.ts";
import type { Role } from "./role.ts";

/**
 * `/livez`, `/readyz` and `/metrics` for a process without the api role (drain,
 * scheduler), on `server.healthPort` of the bind address, for probes and scraping. The
 * same paths and checks as the api role's, and nothing else; the broker is checked only
 * when a role here publishes (the drain dispatches runs over MQTT).
 */
export async function startHealthListener(
  app: App,
  port: number,
  opts: { usesBroker: boolean },
): Promise<Role & { url: string }> {
  const http = createHttpServer({
    log: app.log,
    readiness: opts.usesBroker
      ? app.readiness
      : app.readiness.filter((c) => c.name !== "broker"),
    metrics: app.metrics,
  });
  await http.listen({ host: app.config.server.bindAddress, port });
  const address = http.server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return {
    name: "health",
    url: `http://127.0.0.1:${bound}`,
    stop: () => http.close(),
  };
}
