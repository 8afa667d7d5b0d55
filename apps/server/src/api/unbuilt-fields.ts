import { GraphQLError, type ASTVisitor, type ValidationContext } from "graphql";

/**
 * Fields the Spacelift clients query for features Stackyard has not built, and that are
 * therefore not in the SDL at all (operations that are in the SDL but not served yet are
 * in `unserved-resolvers.ts`). graphql-js would refuse them as "Cannot query field";
 * `unbuiltFieldsRule` reports them as `NOT_IMPLEMENTED` naming the feature instead, so
 * `spacectl blueprint list` or a `spacelift_scheduled_task` resource says what is missing.
 * A module that builds the feature adds its fields to the SDL; the entries then turn stale,
 * which `unbuilt-fields.test.ts` refuses.
 */
export const UNBUILT_FIELDS: Readonly<Record<string, string>> = {
  "Query.searchBlueprints": "support for blueprints",
  "Query.blueprint": "support for blueprints",
  "Mutation.blueprintCreateStack": "support for blueprints",
  "Query.searchTemplates": "support for templates",
  "Query.searchAuditTrailEntries": "the audit trail",
  "Query.terraformProvider": "the provider registry",
  "Query.gpgKeys": "the provider registry",
  "Mutation.gpgKeyCreate": "the provider registry",
  "Mutation.gpgKeyRevoke": "the provider registry",
  "Mutation.terraformProviderVersionCreate": "the provider registry",
  "Mutation.terraformProviderVersionDelete": "the provider registry",
  "Mutation.terraformProviderVersionPublish": "the provider registry",
  "Mutation.terraformProviderVersionRegisterPlatform": "the provider registry",
  "Mutation.terraformProviderVersionRevoke": "the provider registry",
  "Mutation.terraformProviderVersionUpdate": "the provider registry",
  "Mutation.terraformProviderVersionUploadDocs": "the provider registry",
  "Mutation.runExternalDependencyMarkAsCompleted":
    "support for external run dependencies",
  "Mutation.moduleCreate": "the module registry",
  "Mutation.moduleDelete": "the module registry",
  "Mutation.modulePublish": "the module registry",
  "Mutation.moduleShare": "the module registry",
  "Mutation.moduleUpdateV2": "the module registry",
  "Stack.scheduledTask": "support for scheduled tasks",
  "Mutation.stackScheduledTaskCreate": "support for scheduled tasks",
  "Mutation.stackScheduledTaskUpdate": "support for scheduled tasks",
  "Mutation.stackScheduledTaskDelete": "support for scheduled tasks",
  "Stack.scheduledRun": "support for scheduled runs",
  "Mutation.stackScheduledRunCreate": "support for scheduled runs",
  "Mutation.stackScheduledRunUpdate": "support for scheduled runs",
  "Mutation.stackScheduledRunDelete": "support for scheduled runs",
  "Stack.scheduledDelete": "support for scheduled stack deletion",
  "Mutation.stackScheduledDeleteCreate": "support for scheduled stack deletion",
  "Mutation.stackScheduledDeleteUpdate": "support for scheduled stack deletion",
  "Mutation.stackScheduledDeleteDelete": "support for scheduled stack deletion",
  "Mutation.stackDependenciesAddReference":
    "support for stack dependency references",
  "Mutation.stackDependenciesUpdateReference":
    "support for stack dependency references",
  "Mutation.stackDependenciesDeleteReference":
    "support for stack dependency references",
  "Query.namedWebhooksIntegration": "support for webhook notifications",
  "Mutation.namedWebhooksIntegrationCreate":
    "support for webhook notifications",
  "Mutation.namedWebhooksIntegrationUpdate":
    "support for webhook notifications",
  "Mutation.namedWebhooksIntegrationDelete":
    "support for webhook notifications",
  "Query.userGroupRoleBinding": "support for users and IdP groups",
  "Mutation.userGroupRoleBindingCreate": "support for users and IdP groups",
  "Mutation.userGroupRoleBindingDelete": "support for users and IdP groups",
  "Query.userRoleBinding": "support for users and IdP groups",
  "Mutation.userRoleBindingBatchCreate": "support for users and IdP groups",
  "Mutation.userRoleBindingDelete": "support for users and IdP groups",
};

/** The error `unbuiltFieldsRule` reports; `formatError` keeps its code. */
export function unbuiltFieldError(
  typeName: string,
  field: string,
  feature: string,
): string {
  return `${typeName}.${field} is not supported by Stackyard yet: ${feature} is not built`;
}

/** A graphql-js validation rule: see UNBUILT_FIELDS. */
export function unbuiltFieldsRule(context: ValidationContext): ASTVisitor {
  return {
    Field(node) {
      const parent = context.getParentType();
      if (!parent || !("getFields" in parent)) return;
      const field = node.name.value;
      if (field in parent.getFields()) return;
      const feature = UNBUILT_FIELDS[`${parent.name}.${field}`];
      if (!feature) return;
      context.reportError(
        new GraphQLError(unbuiltFieldError(parent.name, field, feature), {
          nodes: node,
          extensions: { code: "NOT_IMPLEMENTED" },
        }),
      );
    },
  };
}
