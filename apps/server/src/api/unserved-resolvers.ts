import { NotImplementedError } from "../platform/errors.ts";
import type { Resolvers } from "./generated/resolvers.ts";

/**
 * Spacelift operations of the compatibility SDL that Stackyard does not serve yet, by
 * the feature they belong to. Each answers a GraphQL error with
 * `extensions.code: NOT_IMPLEMENTED` naming the operation, instead of graphql-js's
 * "Cannot return null for non-nullable field". A module that builds the feature
 * resolves the field itself; `mergeResolvers` then refuses the duplicate, so the entry
 * has to be removed here.
 */
export const UNSERVED_OPERATIONS = {
  Query: {
    searchModules: "the module registry",
    publicWorkerPool: "public worker pools (use a private worker pool)",
  },
  Mutation: {
    versionProposeLocalWorkspace: "the module registry",
    versionCreate: "the module registry",
    versionDelete: "the module registry",
    stackMigrateVendor: "vendor migration",
    stackIntegrationDriftDetectionCreate: "drift detection",
    stackIntegrationDriftDetectionUpdate: "drift detection",
    stackIntegrationDriftDetectionDelete: "drift detection",
    webhooksIntegrationCreate: "webhook notifications",
    webhooksIntegrationUpdate: "webhook notifications",
    webhooksIntegrationDelete: "webhook notifications",
    stackDependencyCreate: "stack dependencies",
    stackDependencyDelete: "stack dependencies",
  },
} as const;

export function unservedResolvers(): Resolvers {
  const resolvers: Record<string, Record<string, () => never>> = {};
  for (const [type, fields] of Object.entries(UNSERVED_OPERATIONS)) {
    const byField: Record<string, () => never> = {};
    for (const [field, feature] of Object.entries(fields)) {
      byField[field] = () => {
        throw new NotImplementedError(
          `${field} is not supported by Stackyard yet: ${feature} is not built`,
        );
      };
    }
    resolvers[type] = byField;
  }
  return resolvers as Resolvers;
}
