import type { Config } from "./platform/config/index.ts";
import type { Logger } from "./platform/log/logger.ts";
import { createApp, type App } from "./app.ts";
import { startApiRole } from "./roles/api.ts";
import { startDrainRole } from "./roles/drain.ts";
import { startSchedulerRole } from "./roles/scheduler.ts";
import { startHealthListener } from "./roles/health.ts";
import type { Role, RoleName } from "./roles/role.ts";

export interface RunningServer {
  app: App;
  roles: Role[];
  /** Base URL of the HTTP API when the api role runs. */
  url: string | null;
  /** Base URL of the health listener (no api role, `server.healthPort` set). */
  healthUrl: string | null;
  stop(): Promise<void>;
}

/**
 * Builds the app once and starts the requested roles on it. Stop order is the reverse
 * of start: no new HTTP requests or jobs, then in-flight work finishes, then the
 * database pool closes.
 */
export async function startServer(
  config: Config,
  opts: { databaseUrl: string; log: Logger; roles?: RoleName[] },
): Promise<RunningServer> {
  const app = await createApp(config, {
    databaseUrl: opts.databaseUrl,
    log: opts.log,
  });
  const wanted = new Set(opts.roles ?? config.server.roles);
  const roles: Role[] = [];
  let url: string | null = null;
  let healthUrl: string | null = null;
  const stopAll = async (): Promise<void> => {
    for (const role of roles.reverse()) {
      try {
        await role.stop();
      } catch (err) {
        opts.log.error({ err, role: role.name }, "role did not stop cleanly");
      }
    }
    roles.length = 0;
    await app.close();
  };
  try {
    if (wanted.has("api")) {
      const api = await startApiRole(app);
      url = api.url;
      roles.push(api);
    }
    if (wanted.has("drain")) roles.push(await startDrainRole(app));
    if (wanted.has("scheduler")) roles.push(await startSchedulerRole(app));
    // Last to start, first to stop: probes fail before the roles wind down.
    if (!wanted.has("api") && config.server.healthPort !== null) {
      const health = await startHealthListener(app, config.server.healthPort, {
        usesBroker: wanted.has("drain"),
      });
      healthUrl = health.url;
      roles.push(health);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  opts.log.info(
    { roles: roles.map((r) => r.name), url, healthUrl },
    "stackyard server started",
  );
  return { app, roles, url, healthUrl, stop: stopAll };
}
