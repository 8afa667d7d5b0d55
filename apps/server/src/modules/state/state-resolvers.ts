import type { IResolvers } from "mercurius";
import { requireSession, type GraphQLContext } from "../../api/graphql.ts";
import type { StateOperations } from "./state-operations.ts";
import type { StateService } from "./state-service.ts";

/**
 * Stack fields backed by managed state. `Stack` objects reach these resolvers only after
 * the stacks module has checked the caller may read the stack.
 */
export function stateResolvers(
  state: Pick<StateService, "outputs">,
): IResolvers {
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

/**
 * `stateDownloadUrl` (spacectl `stack state pull`, graphql-compat S42) and
 * `stateUploadUrl` (the Terraform provider's import_state, P07). Both URLs are fetched
 * without a bearer token, so they carry a signed, 5-minute transfer token.
 */
export function stateOperationResolvers(
  ops: Pick<StateOperations, "downloadUrl" | "uploadUrl">,
): IResolvers {
  return {
    Mutation: {
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
