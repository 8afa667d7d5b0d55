import {
  requireSession,
  type GraphQLContext,
} from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { StateOperations, StateVersionView } from "./state-operations.ts";
import type { StateService } from "./state-service.ts";

/**
 * Stack fields backed by managed state. `Stack` objects reach these resolvers only after
 * the stacks module has checked the caller may read the stack.
 */
export function stateResolvers(
  state: Pick<StateService, "outputs">,
): Resolvers {
  return {
    Stack: {
      outputs: async (stack: { id: string }) => {
        const outputs = await state.outputs(stack.id);
        // Sensitive values never leave the server; spacectl prints them as "<sensitive>".
        return outputs.map((o) => ({
          id: o.name,
          sensitive: o.sensitive,
          description: null,
          value: o.sensitive ? null : JSON.stringify(o.value),
        }));
      },
    },
  };
}

/** Largest page of `Stack.stackyardStateVersions`. */
const STATE_VERSIONS_MAX_PAGE = 100;

function presentStateVersion(v: StateVersionView) {
  return {
    id: v.id,
    serial: v.serial,
    lineage: v.lineage,
    createdAt: Math.floor(Date.parse(v.createdAt) / 1000),
    runId: v.runId,
    createdBy: v.createdBy,
    size: v.size,
    restoredFromId: v.restoredFromId,
    isCurrent: v.isCurrent,
  };
}

/**
 * `stateDownloadUrl` (spacectl `stack state pull`, graphql-compat S42) and
 * `stateUploadUrl` (the Terraform provider's import_state, P07). Both URLs are fetched
 * without a bearer token, so they carry a signed, 5-minute transfer token.
 *
 * Stackyard extensions for the web UI's state history, with the permission checks of
 * the REST routes (state-operations.ts): `Stack.stackyardStateVersions` (READ),
 * `stackyardStateVersionDownloadUrl` (WRITE), `stackyardStateRollback` (ADMIN, the stack
 * locked by the caller, no unfinished runs).
 */
export function stateOperationResolvers(
  ops: Pick<
    StateOperations,
    "downloadUrl" | "uploadUrl" | "listVersions" | "rollback"
  >,
): Resolvers {
  return {
    Stack: {
      stackyardStateVersions: async (
        stack: { id: string },
        args: { first?: number | null; after?: string | null },
        ctx: GraphQLContext,
      ) => {
        const first = args.first ?? 20;
        if (
          !Number.isInteger(first) ||
          first < 1 ||
          first > STATE_VERSIONS_MAX_PAGE
        )
          throw new ValidationError(
            `stackyardStateVersions: first must be an integer from 1 to ${STATE_VERSIONS_MAX_PAGE}`,
          );
        // One more than asked tells whether another page follows.
        const { versions } = await ops.listVersions(
          requireSession(ctx),
          stack.id,
          { limit: first + 1, after: args.after ?? null },
        );
        const page = versions.slice(0, first);
        return {
          nodes: page.map(presentStateVersion),
          pageInfo: {
            endCursor: page.at(-1)?.id ?? null,
            hasNextPage: versions.length > first,
            hasPreviousPage: Boolean(args.after),
          },
        };
      },
    },
    Mutation: {
      stackyardStateRollback: async (
        _root: unknown,
        args: { stack: string; version: string },
        ctx: GraphQLContext,
      ) =>
        presentStateVersion(
          await ops.rollback(requireSession(ctx), args.stack, args.version),
        ),
      stackyardStateVersionDownloadUrl: async (
        _root: unknown,
        args: { stack: string; version: string },
        ctx: GraphQLContext,
      ) => {
        const { url } = await ops.downloadUrl(
          requireSession(ctx),
          args.stack,
          args.version,
        );
        return { url };
      },
      stateDownloadUrl: async (
        _root: unknown,
        args: { input: { stackId: string } },
        ctx: GraphQLContext,
      ) => {
        const { url } = await ops.downloadUrl(
          requireSession(ctx),
          args.input.stackId,
        );
        return { url };
      },
      stateUploadUrl: async (
        _root: unknown,
        _args: unknown,
        ctx: GraphQLContext,
      ) => {
        const { objectId, url } = await ops.uploadUrl(requireSession(ctx));
        return { objectId, url };
      },
    },
  };
}
