import { randomBytes } from "node:crypto";
import { ForbiddenError, ValidationError } from "../../platform/errors.ts";
import { parseExact, stringifyExact } from "@stackyard/protocol";
import type { Session } from "../auth/index.ts";
import type { SpaceAccess } from "../stacks/index.ts";
import { packageOf, rewriteSource, type PolicyType } from "./policy.ts";
import { typeOf } from "./policy-guards.ts";
import type { PolicyValidator } from "./policy-validation.ts";
import type { OpaClient } from "./opa-client.ts";

/** Bounds of `policySimulate` (see `simulate`). */
export const MAX_SIMULATION_INPUT_BYTES = 1024 * 1024;
export const SIMULATION_TIMEOUT_MS = 10_000;

export function createPolicySimulation(deps: {
  access: Pick<SpaceAccess, "homeSpace" | "assertCanAdmin">;
  validator: Pick<PolicyValidator, "validate">;
  opa: Pick<OpaClient, "evaluate" | "remove">;
  /** The evaluation timeout of a type (simulations get the same budget). */
  timeoutOf: (type: PolicyType) => number;
}) {
  const { access } = deps;
  return {
    /**
     * Evaluates a body against `input` (JSON text) without saving anything; returns the
     * package document as JSON text (S57). The body is checked like a saved one. Only
     * someone who could save such a policy may (ADMIN on the caller's home space, where
     * a new policy would go; an admin session for LOGIN): a simulation runs arbitrary
     * Rego on the shared OPA. The input is at most MAX_SIMULATION_INPUT_BYTES and the
     * evaluation at most SIMULATION_TIMEOUT_MS (or the type's shorter timeout), so one
     * call cannot hold OPA for long or feed it an unbounded document.
     */
    async simulate(
      session: Session,
      args: { body: string; input: string; type: string },
    ): Promise<string> {
      const type = typeOf(args.type);
      const spaceId = await access.homeSpace(session);
      await access.assertCanAdmin(
        session,
        spaceId,
        new ForbiddenError(
          "policySimulate: simulating a policy needs the rights to create one (ADMIN on your space)",
        ),
      );
      if (type === "LOGIN" && !session.admin)
        throw new ForbiddenError(
          "policySimulate: login policies are global: only an admin can simulate them",
        );
      if (Buffer.byteLength(args.input) > MAX_SIMULATION_INPUT_BYTES)
        throw new ValidationError(
          `policySimulate input: the input document is larger than ${MAX_SIMULATION_INPUT_BYTES} bytes`,
        );
      // The user's numbers reach OPA as written (`101.00` stays a decimal, a 19-digit
      // integer keeps its digits), and so do OPA's in the answer.
      let input: unknown;
      try {
        input = parseExact(args.input);
      } catch (err) {
        throw new ValidationError(
          `policySimulate input: must be a JSON document: ${(err as Error).message}`,
        );
      }
      const engineType = await deps.validator.validate(args.body);
      const id = `sim_${randomBytes(8).toString("hex")}`;
      const pkg = packageOf(id);
      try {
        const result = await deps.opa.evaluate(
          { id, pkg, source: rewriteSource(args.body, pkg, engineType) },
          input,
          Math.min(deps.timeoutOf(type), SIMULATION_TIMEOUT_MS),
        );
        return stringifyExact(result);
      } finally {
        await deps.opa.remove(id).catch(() => undefined);
      }
    },
  };
}
