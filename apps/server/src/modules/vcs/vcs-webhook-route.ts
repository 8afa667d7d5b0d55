import { createHash } from "node:crypto";
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from "fastify";
import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { Enqueue } from "../../platform/queue/index.ts";
import type { VcsProviderAdapters } from "./provider.ts";
import type { VcsIntegrationRecord } from "./vcs-integration.ts";
import * as events from "./vcs-event-repo.ts";

/** Webhook bodies larger than this are refused with 413 (GitHub caps payloads at 25 MB; pushes are far smaller). */
export const WEBHOOK_BODY_LIMIT_BYTES = 10 * 1024 * 1024;

/** The `vcs.handleWebhook` job payload: a verified, parsed delivery. */
export interface WebhookJob {
  integrationId: string;
  deliveryId: string;
  eventName: string;
  eventId: string;
  payload: unknown;
}

export interface VcsWebhookRouteDeps {
  db: Database;
  integrations: {
    loadByName(name: string): Promise<VcsIntegrationRecord | null>;
  };
  adapters: VcsProviderAdapters;
  newEventId: () => string;
  clock: () => Date;
  log: Logger;
  /**
   * Enqueues `vcs.handleWebhook`. A delivery may be far over the queue's 256 KiB inline
   * limit, so this is the composition root's enqueue with the large-messages bucket.
   */
  enqueue: Enqueue;
}

type Req = FastifyRequest<{ Params: { integration: string } }>;

function fail(
  reply: FastifyReply,
  status: number,
  error: string,
  message: string,
) {
  return reply.status(status).send({ error, message });
}

/**
 * Parses the body as the provider sent it: JSON, or GitHub's form encoding
 * (`payload=<json>`). Returns an error message naming the problem instead of throwing.
 */
export function parseWebhookBody(
  body: Buffer,
  contentType: string | undefined,
): { ok: true; payload: unknown } | { ok: false; message: string } {
  let text = body.toString("utf8");
  if (contentType?.startsWith("application/x-www-form-urlencoded")) {
    const payload = new URLSearchParams(text).get("payload");
    if (payload === null)
      return {
        ok: false,
        message:
          "the form-encoded webhook has no `payload` field; configure the webhook to send application/json",
      };
    text = payload;
  }
  if (text.trim() === "")
    return {
      ok: false,
      message: "the webhook body is empty; expected a JSON document",
    };
  try {
    // Postgres jsonb cannot store U+0000: one in a value (a commit message, say) becomes
    // U+FFFD so the delivery is still processed; one in a key refuses the body.
    let nulKey = false;
    const payload = JSON.parse(text, (key, value: unknown) => {
      if (key.includes("\u0000")) nulKey = true;
      return typeof value === "string" && value.includes("\u0000")
        ? value.replaceAll("\u0000", "\ufffd")
        : value;
    }) as unknown;
    if (nulKey)
      return {
        ok: false,
        message: "the webhook body has a key with a NUL character",
      };
    return { ok: true, payload };
  } catch (err) {
    return {
      ok: false,
      message: `the webhook body is not valid JSON (${(err as Error).message})`,
    };
  }
}

/**
 * `POST /webhooks/:integration`: the ingress for GitHub and GitLab webhooks.
 * 404 for an unknown integration (before the body is read), 413 over the size limit,
 * 401 when the signature/token does not verify (nothing is recorded or enqueued), 400
 * for a body that is not JSON. A verified delivery is recorded by its delivery id and
 * `vcs.handleWebhook` is enqueued in the same transaction, then 202; a delivery id seen
 * before is acknowledged with 200 and not enqueued again, so it is processed once.
 */
export async function registerVcsWebhookRoute(
  app: FastifyInstance,
  deps: VcsWebhookRouteDeps,
): Promise<void> {
  const log = deps.log.child({ module: "vcs", component: "webhooks" });
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: WEBHOOK_BODY_LIMIT_BYTES },
      (_req, body, done) => done(null, body),
    );
    scope.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE" || err.statusCode === 413)
        return fail(
          reply,
          413,
          "PAYLOAD_TOO_LARGE",
          `the webhook payload is larger than ${WEBHOOK_BODY_LIMIT_BYTES / 1024 / 1024} MiB, which this endpoint accepts`,
        );
      throw err;
    });

    const integrations = new WeakMap<FastifyRequest, VcsIntegrationRecord>();

    scope.route({
      method: "POST",
      url: "/webhooks/:integration",
      bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
      // The integration is looked up before the body is read: an unknown one costs nothing.
      onRequest: async (req: Req, reply) => {
        const integration = await deps.integrations.loadByName(
          req.params.integration,
        );
        if (!integration || integration.provider === "RAW_GIT")
          return fail(
            reply,
            404,
            "NOT_FOUND",
            `no GitHub or GitLab integration is named ${req.params.integration}`,
          );
        integrations.set(req, integration);
      },
      handler: async (req: Req, reply) => {
        const integration = integrations.get(req);
        if (!integration) throw new Error("webhook integration not resolved");
        const adapter =
          integration.provider === "RAW_GIT"
            ? undefined
            : deps.adapters[integration.provider];
        if (!adapter)
          return fail(
            reply,
            503,
            "UNAVAILABLE",
            `this server has no ${integration.provider} provider adapter`,
          );
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const verdict = adapter.verifyWebhook(integration, req.headers, body);
        if (!verdict.ok) {
          log.warn(
            { integration: integration.name, reason: verdict.reason },
            "rejected a webhook",
          );
          return fail(reply, 401, "UNAUTHENTICATED", verdict.reason);
        }
        const parsed = parseWebhookBody(body, req.headers["content-type"]);
        if (!parsed.ok) return fail(reply, 400, "BAD_REQUEST", parsed.message);

        // A provider that sends no delivery id: identical bodies are the same delivery.
        const deliveryId =
          verdict.deliveryId.trim() ||
          `sha256:${createHash("sha256").update(body).digest("hex")}`;
        const job: WebhookJob = {
          integrationId: integration.id,
          deliveryId,
          eventName: verdict.eventName,
          eventId: deps.newEventId(),
          payload: parsed.payload,
        };
        const fresh = await deps.db.transaction().execute(async (tx) => {
          const recorded = await events.recordDelivery(tx, {
            integrationId: integration.id,
            deliveryId,
            eventName: verdict.eventName,
            now: deps.clock(),
          });
          if (recorded) await deps.enqueue(tx, "vcs.handleWebhook", job);
          return recorded;
        });
        if (!fresh)
          return reply.status(200).send({
            status: "duplicate",
            deliveryId,
            message: "this delivery was received before and is processed once",
          });
        return reply.status(202).send({ status: "queued", deliveryId });
      },
    });
  });
}
