import type { FastifyInstance } from "fastify";
import { unservedResolvers } from "../api/unserved-resolvers.ts";
import type { App } from "../app.ts";
import { createHttpServer } from "../platform/http/http-server.ts";
import { registerWebAssets } from "../platform/http/web-assets.ts";
import {
  authResolvers,
  identityResolvers,
  registerAuthRoutes,
  cookieAuthenticator,
  registerRunIdentityRoutes,
  registerSsoRoutes,
} from "../modules/auth/index.ts";
import {
  contextResolvers,
  presentSpace,
  spaceResolvers,
  stackLoader,
  stackResolvers,
} from "../modules/stacks/index.ts";
import {
  registerStateApiRoutes,
  registerStateRoutes,
  stateOperationResolvers,
  stateResolvers,
} from "../modules/state/index.ts";
import { registerGraphQL, type Resolvers } from "../api/graphql.ts";
import {
  registerRunEventsRoute,
  localPreviewResolvers,
  registerLocalWorkspaceRoutes,
  registerRunWorkerRoutes,
  runResolvers,
} from "../modules/runs/index.ts";
import { workerResolvers } from "../modules/workers/index.ts";
import { registerVcsWebhookRoute, vcsResolvers } from "../modules/vcs/index.ts";
import { policyResolvers } from "../modules/policies/index.ts";
import type { Role } from "./role.ts";

/** HTTP API, the built-in MQTT broker (when configured) and worker message handling. */
export async function startApiRole(
  app: App,
): Promise<Role & { http: FastifyInstance; url: string }> {
  const http = createHttpServer({
    log: app.log,
    readiness: app.readiness,
    metrics: app.metrics,
    trustedProxies: app.config.server.trustedProxies,
  });
  await registerAuthRoutes(http, app.auth, app.signer);
  registerRunIdentityRoutes(http, app.config.server.publicUrl);
  await registerSsoRoutes(http, {
    oidc: app.oidcLogin,
    sessions: app.userSessions,
    publicUrl: app.config.server.publicUrl,
  });
  await registerStateRoutes(http, { state: app.state, sessions: app.auth });
  await registerStateApiRoutes(http, {
    operations: app.stateOps,
    sessions: app.auth,
  });
  if (app.runs.reports)
    await registerRunWorkerRoutes(
      http,
      app.runs.reports,
      app.runs.plans ?? undefined,
      app.runs.localPreviews ?? undefined,
    );
  if (app.runs.localPreviews)
    await registerLocalWorkspaceRoutes(http, app.runs.localPreviews);
  await registerRunEventsRoute(http, {
    runs: app.runs.service,
    logs: app.runs.logs ?? undefined,
    sessions: app.auth,
  });
  await registerGraphQL(http, {
    auth: app.auth,
    log: app.log,
    resolvers: apiResolvers(app),
    cookieAuth: cookieAuthenticator(app.userSessions),
  });
  await registerVcsWebhookRoute(http, {
    db: app.db,
    integrations: app.vcs.integrations,
    adapters: app.vcs.adapters,
    newEventId: app.vcs.newEventId,
    clock: () => new Date(),
    log: app.log,
    enqueue: app.enqueue,
  });

  // The web UI at `/` (SPA fallback), after every API route so none is shadowed.
  await registerWebAssets(http);

  await app.broker?.start();
  await app.transport.start();
  await app.workers.start();
  await http.listen({
    host: app.config.server.bindAddress,
    port: app.config.server.port,
  });
  const address = http.server.address();
  const port =
    typeof address === "object" && address
      ? address.port
      : app.config.server.port;
  return {
    name: "api",
    http,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await http.close();
      await app.workers.stop();
      await app.transport.stop();
      await app.broker?.stop();
    },
  };
}

/** Every module's GraphQL resolver map, as the API serves them (one map per module). */
export function apiResolvers(app: App): Resolvers[] {
  return [
    authResolvers(app.auth),
    identityResolvers({
      identity: app.identity,
      findSpace: (session, id) =>
        app.spaces
          .findSpace(session, id)
          .then((space) => (space ? presentSpace(space) : null)),
    }),
    stackResolvers(app.stacks, { stateImport: app.stateOps }),
    runResolvers({
      runs: app.runs.service,
      logs: app.runs.logs ?? undefined,
      plans: app.runs.plans ?? undefined,
      resolveStack: stackLoader(app.stacks),
    }),
    workerResolvers({
      workers: app.workers,
      runs: app.runs.service,
      access: app.spaceAccess,
    }),
    contextResolvers(app.contexts),
    spaceResolvers(app.spaces),
    policyResolvers({
      policies: app.policies.service,
      findSpace: (session, id) =>
        app.spaces.findSpace(session, id).catch(() => null),
    }),
    stateResolvers(app.state),
    stateOperationResolvers(app.stateOps),
    vcsResolvers({
      integrations: app.vcs.integrations,
      events: app.vcs.events,
    }),
    ...(app.runs.localPreviews
      ? [localPreviewResolvers(app.runs.localPreviews)]
      : []),
    unservedResolvers(),
  ];
}
