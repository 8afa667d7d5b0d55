import type { z } from "zod";
import { ValidationError } from "./errors.ts";

/**
 * Parses `value` with `schema`, or throws one ValidationError listing every problem,
 * each prefixed with `label` and the field's path: "stackCreate input.branch: must not
 * be empty; stackCreate input.labels[2]: ...". The edge maps it to BAD_USER_INPUT.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  label: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path
      .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
      .join("");
    return `${label}${path}: ${issue.message}`;
  });
  throw new ValidationError(problems.join("; "));
}
