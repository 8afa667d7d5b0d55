/**
 * GraphQL operations of the VCS pages (the `stackyardVcs*` extensions): integrations and
 * a stack's recent VCS events. Plain strings with their result types.
 */

export type VcsProvider = "GITHUB" | "GITLAB" | "RAW_GIT";

export interface VcsIntegration {
  id: string;
  name: string;
  provider: VcsProvider;
  space: string;
  isDefault: boolean;
  labels: string[];
  description: string | null;
  checks: "INDIVIDUAL" | "AGGREGATED";
  apiUrl: string | null;
  gitUrl: string | null;
  appId: string | null;
  hasWebhookSecret: boolean;
  hasCredentials: boolean;
  webhookUrl: string | null;
  createdAt: number;
  updatedAt: number;
}
const INTEGRATION =
  "id,name,provider,space,isDefault,labels,description,checks,apiUrl,gitUrl,appId,hasWebhookSecret,hasCredentials,webhookUrl,createdAt,updatedAt";

export const VCS_INTEGRATIONS = `{stackyardVcsIntegrations{${INTEGRATION}}}`;
export interface VcsIntegrationsResult {
  stackyardVcsIntegrations: VcsIntegration[];
}

export const VCS_INTEGRATION_CREATE = `mutation($input:StackyardVcsIntegrationCreateInput!){stackyardVcsIntegrationCreate(input: $input){${INTEGRATION}}}`;
export interface VcsIntegrationCreateResult {
  stackyardVcsIntegrationCreate: VcsIntegration;
}
export const VCS_INTEGRATION_UPDATE = `mutation($id:ID!$input:StackyardVcsIntegrationUpdateInput!){stackyardVcsIntegrationUpdate(id: $id, input: $input){${INTEGRATION}}}`;
export const VCS_INTEGRATION_DELETE = `mutation($id:ID!){stackyardVcsIntegrationDelete(id: $id){id}}`;

export interface VcsEvent {
  id: string;
  source: string;
  kind: string;
  repository: string;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  pullRequest: number | null;
  receivedAt: number;
  outcome: string;
  runId: string | null;
  reason: string;
}
export const STACK_VCS_EVENTS = `query($stack:ID!$limit:Int){stackyardVcsEvents(stack: $stack, limit: $limit){id,source,kind,repository,branch,tag,sha,pullRequest,receivedAt,outcome,runId,reason}}`;
export interface StackVcsEventsResult {
  stackyardVcsEvents: VcsEvent[];
}

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
