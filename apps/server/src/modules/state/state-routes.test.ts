import { afterEach, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { UnauthorizedError } from "../../platform/errors.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../../platform/http/http-server.ts";
import { createLogger } from "../../platform/log/logger.ts";
import type { Session } from "../auth/index.ts";
import {
  registerStateRoutes,
  STATE_AUTH_FAILURES_PER_MINUTE,
} from "./state-routes.ts";
import type { StateCaller } from "./state.ts";

const KEY: Session = { kind: "api_key", id: "01key", name: "ci", admin: false };

// The state backend's credential checks with the services faked: key 01key / "right".
async function server(): Promise<FastifyInstance> {
  const http = createHttpServer({
    log: createLogger({ level: "silent", format: "json" }),
    readiness: [],
    metrics: createMetricsRegistry({ service: "test" }),
  });
  const unused = async (): Promise<never> => {
    throw new Error("not used");
  };
  await registerStateRoutes(http, {
    sessions: {
      authenticate: unused,
      async authenticateApiKey(id, secret) {
        if (id !== "01key" || secret !== "right")
          throw new UnauthorizedError("unknown API key id or wrong secret");
        return KEY;
      },
    },
    state: {
      async authenticate() {
        throw new UnauthorizedError("bad run credentials");
      },
      authenticateUser: async (stackId) =>
        ({ runId: "usr", stackId }) as unknown as StateCaller,
      readState: async () => null,
      writeState: unused,
      lock: unused,
      unlock: unused,
      deleteState: unused,
    },
  });
  await http.ready();
  return http;
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("state backend basic auth", () => {
  let http: FastifyInstance | undefined;
  afterEach(async () => {
    await http?.close();
  });

  it("answers 429 after repeated failures from one address, counting only failures", async () => {
    http = await server();
    const get = (
      user: string,
      password: string,
      remoteAddress = "192.0.2.30",
    ) =>
      http!.inject({
        url: "/state/stk-1",
        remoteAddress,
        headers: { authorization: basic(user, password) },
      });
    for (let i = 0; i < 30; i++)
      expect((await get("01key", "right")).statusCode).toBe(204);
    for (let i = 0; i < STATE_AUTH_FAILURES_PER_MINUTE; i++) {
      const user = i % 2 ? "01key" : "run_guess";
      expect((await get(user, "guess")).statusCode).toBe(401);
    }
    const limited = await get("01key", "right");
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({
      error: "RATE_LIMITED",
      message: expect.stringContaining(
        "too many failed state backend logins",
      ) as string,
    });
    expect(limited.headers["retry-after"]).toBeDefined();
    expect((await get("01key", "right", "192.0.2.31")).statusCode).toBe(204);
  });
});
