/**
 * GraphQL operations of the VCS pages (the `stackyardVcs*` extensions): integrations and
 * a stack's recent VCS events. The operations live in
 * packages/api-client/src/operations/*.graphql; the named shapes here are derived from
 * their generated result types.
 */
import {
  STACK_VCS_EVENTS,
  VCS_INTEGRATIONS,
  type ResultOf,
  type StackyardVcsProvider,
} from "@stackyard/api-client";

export {
  STACK_VCS_EVENTS,
  VCS_INTEGRATION_CREATE,
  VCS_INTEGRATION_DELETE,
  VCS_INTEGRATION_UPDATE,
  VCS_INTEGRATIONS,
} from "@stackyard/api-client";

type Item<T> = T extends ReadonlyArray<infer E> ? E : never;

export type VcsProvider = StackyardVcsProvider;
export type VcsIntegration = Item<
  ResultOf<typeof VCS_INTEGRATIONS>["stackyardVcsIntegrations"]
>;
export type VcsEvent = Item<
  ResultOf<typeof STACK_VCS_EVENTS>["stackyardVcsEvents"]
>;

/**
 * Splits a validation message such as "input.appId: required; input.token: …" into
 * per-field sentences (keyed by the input field) and whatever names no field.
 */
export function fieldProblems(message: string): {
  fields: Record<string, string>;
  rest: string[];
} {
  const fields: Record<string, string> = {};
  const rest: string[] = [];
  for (const part of message.replace(/\.$/, "").split("; ")) {
    const m = /(?:^|\s)[A-Za-z]+\.([A-Za-z]+): (.+)$/.exec(part.trim());
    if (m?.[1] && m[2] && !(m[1] in fields))
      fields[m[1]] = `${m[2].charAt(0).toUpperCase()}${m[2].slice(1)}.`;
    else rest.push(part.trim());
  }
  return { fields, rest };
}
