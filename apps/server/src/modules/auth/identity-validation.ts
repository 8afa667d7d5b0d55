import { ValidationError } from "../../platform/errors.ts";
import { ACTIONS } from "./role.ts";

/** Input checks of identity administration; each error names the input field. */
export const NAME_MAX = 100;
export const DESCRIPTION_MAX = 1000;
export const TEAMS_MAX = 100;

export function text(field: string, value: string, max: number): string {
  const v = value.trim();
  if (v.length > max)
    throw new ValidationError(`${field} is longer than ${max} characters`);
  return v;
}

export function name(field: string, value: string): string {
  const v = text(field, value, NAME_MAX);
  if (!v) throw new ValidationError(`${field} must not be empty`);
  return v;
}

export function teams(field: string, values: readonly string[]): string[] {
  if (values.length > TEAMS_MAX)
    throw new ValidationError(`${field} lists more than ${TEAMS_MAX} groups`);
  const out = values.map((t, i) => name(`${field}[${i}]`, t));
  return [...new Set(out)];
}

export function actions(field: string, values: readonly string[]): string[] {
  if (!values.length) throw new ValidationError(`${field} must not be empty`);
  for (const [i, a] of values.entries())
    if (!ACTIONS.includes(a))
      throw new ValidationError(`${field}[${i}]: ${a} is not an action`);
  return [...new Set(values)];
}
