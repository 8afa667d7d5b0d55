import type { IResolvers } from "mercurius";
import { requireSession, type GraphQLContext } from "../../api/graphql.ts";
import type { SpaceInput } from "./stack-inputs.ts";
import type { SpaceService } from "./space-service.ts";
import { presentSpace } from "./stack-presenters.ts";

export function spaceResolvers(
  spaces: Pick<
    SpaceService,
    "findSpace" | "accessLevel" | "createSpace" | "updateSpace" | "deleteSpace"
  >,
): IResolvers {
  return {
    Query: {
      space: async (
        _root: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const space = await spaces.findSpace(requireSession(ctx), args.id);
        return space ? presentSpace(space) : null;
      },
    },

    Space: {
      accessLevel: (
        space: { id: string },
        _args: unknown,
        ctx: GraphQLContext,
      ) => spaces.accessLevel(requireSession(ctx), space.id),
    },

    Mutation: {
      spaceCreate: async (
        _root: unknown,
        args: { input: SpaceInput },
        ctx: GraphQLContext,
      ) =>
        presentSpace(await spaces.createSpace(requireSession(ctx), args.input)),
      spaceUpdate: async (
        _root: unknown,
        args: { space: string; input: SpaceInput },
        ctx: GraphQLContext,
      ) =>
        presentSpace(
          await spaces.updateSpace(requireSession(ctx), args.space, args.input),
        ),
      spaceDelete: async (
        _root: unknown,
        args: { space: string },
        ctx: GraphQLContext,
      ) =>
        presentSpace(await spaces.deleteSpace(requireSession(ctx), args.space)),
    },
  } as IResolvers;
}
