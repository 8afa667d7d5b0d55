import type { IResolvers } from "mercurius";
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
