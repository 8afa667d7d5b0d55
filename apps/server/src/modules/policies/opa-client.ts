import { createHash } from "node:crypto";
import { UnavailableError } from "../../platform/errors.ts";
import { parseExact, stringifyExact } from "@stackyard/protocol";
import { opaRequest } from "./opa-http.ts";
import type { OpaEndpoint } from "./opa-server.ts";
import { PolicyEvaluationError } from "./policy-errors.ts";

/** A module as OPA should hold it: its id in the Policy API and the rewritten source. */
export interface OpaModule {
  /** Policy API id, also the package's last segment. */
  id: string;
  /** Dotted package, e.g. `spacelift.p_my_policy`. */
  pkg: string;
  source: string;
}

interface OpaErrorBody {
  code?: string;
  message?: string;
  errors?: Array<{
    code?: string;
    message?: string;
    location?: { row?: number; col?: number };
  }>;
}

function describe(body: OpaErrorBody): string {
  const details = (body.errors ?? [])
    .map(
      (e) =>
        `${e.location?.row ? `line ${e.location.row}: ` : ""}${e.message ?? e.code ?? ""}`,
    )
    .join("; ");
  return details || body.message || body.code || "unknown error";
}

/**
 * The OPA REST API as the evaluation service uses it.
 *
 * Modules are uploaded lazily: `evaluate` first makes sure the server holds this exact
 * source (a sha256 per module id and endpoint generation), so a restarted embedded OPA,
 * or a policy changed through another replica, is pushed again before it is queried. A
 * query answering without `result` means the package is unknown to the server (an
 * external OPA restarted): the module is pushed and the query retried once.
 *
 * Timeouts abort the HTTP request; OPA cancels the evaluation with the request.
 */
export function createOpaClient(endpoint: OpaEndpoint) {
  const pushed = new Map<string, { hash: string; generation: number }>();

  async function call(
    method: string,
    urlPath: string,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<{ status: number; json: unknown }> {
    const base = await endpoint.url();
    let res: { status: number; text: string };
    try {
      res = await opaRequest(base, urlPath, {
        method,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if ((err as Error).name === "TimeoutError") {
        const timeout = new PolicyEvaluationError(
          `timed out after ${timeoutMs} ms`,
          { cause: err },
        );
        timeout.timedOut = true;
        throw timeout;
      }
      throw new UnavailableError(
        `the policy engine at ${base} is unreachable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const { text } = res;
    let json: unknown = null;
    try {
      json = text ? parseExact(text) : null;
    } catch {
      json = { message: text.slice(0, 500) };
    }
    return { status: res.status, json };
  }

  async function push(mod: OpaModule, timeoutMs: number): Promise<void> {
    const { status, json } = await call(
      "PUT",
      `/v1/policies/${encodeURIComponent(mod.id)}`,
      mod.source,
      timeoutMs,
    );
    if (status >= 300)
      throw new PolicyEvaluationError(
        `the policy engine refused policy ${mod.id}: ${describe(json as OpaErrorBody)}`,
      );
    pushed.set(mod.id, {
      hash: createHash("sha256").update(mod.source).digest("hex"),
      generation: endpoint.generation(),
    });
  }

  async function ensure(mod: OpaModule, timeoutMs: number): Promise<void> {
    const known = pushed.get(mod.id);
    const hash = createHash("sha256").update(mod.source).digest("hex");
    if (
      known &&
      known.hash === hash &&
      known.generation === endpoint.generation()
    )
      return;
    await push(mod, timeoutMs);
  }

  async function query(
    mod: OpaModule,
    input: unknown,
    timeoutMs: number,
  ): Promise<{ found: boolean; result: Record<string, unknown> }> {
    const { status, json } = await call(
      "POST",
      `/v1/data/${mod.pkg.split(".").join("/")}`,
      stringifyExact({ input }),
      timeoutMs,
    );
    if (status >= 300)
      throw new PolicyEvaluationError(describe(json as OpaErrorBody));
    const body = (json ?? {}) as { result?: unknown };
    if (!("result" in body)) return { found: false, result: {} };
    const result =
      body.result && typeof body.result === "object"
        ? (body.result as Record<string, unknown>)
        : {};
    return { found: true, result };
  }

  return {
    /**
     * The package document of `mod` for `input`. Throws PolicyEvaluationError for a
     * runtime error or a timeout (the whole call, upload included, gets `timeoutMs`),
     * UnavailableError when the engine cannot be reached.
     *
     * Numbers go both ways exactly (`parseExact` / `stringifyExact`): `input` may hold
     * `bigint` and LosslessNumber values, which OPA receives as written, and the result
     * holds LosslessNumber where OPA's number text is not JavaScript's, so writing it
     * out with `stringifyExact` gives back OPA's own text.
     */
    async evaluate(
      mod: OpaModule,
      input: unknown,
      timeoutMs: number,
    ): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      const left = () => Math.max(1, deadline - Date.now());
      try {
        await ensure(mod, left());
        let answer = await query(mod, input, left());
        if (!answer.found) {
          await push(mod, left());
          answer = await query(mod, input, left());
        }
        return answer.result;
      } catch (err) {
        if (err instanceof PolicyEvaluationError && err.timedOut)
          throw new PolicyEvaluationError(
            `the evaluation timed out after ${timeoutMs} ms`,
            { cause: err },
          );
        throw err;
      }
    },

    /** Removes a module (deleted policy, simulation); a missing one is fine. */
    async remove(id: string): Promise<void> {
      pushed.delete(id);
      const { status, json } = await call(
        "DELETE",
        `/v1/policies/${encodeURIComponent(id)}`,
        undefined,
        10_000,
      );
      if (status >= 300 && status !== 404)
        throw new UnavailableError(
          `the policy engine could not remove policy ${id}: ${describe(json as OpaErrorBody)}`,
        );
    },

    /** OPA's version (`policyRuntime.openPolicyAgentVersion`). */
    async version(): Promise<string> {
      const { status, json } = await call(
        "POST",
        "/v1/query",
        JSON.stringify({ query: "v := opa.runtime().version" }),
        10_000,
      );
      const rows = (json as { result?: Array<{ v?: unknown }> } | null)?.result;
      const v = rows?.[0]?.v;
      if (status >= 300 || typeof v !== "string")
        throw new UnavailableError(
          `the policy engine did not report its version: ${describe(json as OpaErrorBody)}`,
        );
      return v;
    },
  };
}

export type OpaClient = ReturnType<typeof createOpaClient>;
