import { requireSession } from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import type { SpaceService } from "./space-service.ts";
import { presentSpace } from "./stack-presenters.ts";

export function spaceResolvers(
  spaces: Pick<
    SpaceService,
    "findSpace" | "accessLevel" | "createSpace" | "updateSpace" | "deleteSpace"
  >,
): Resolvers {
  return {
    Query: {
      space: async (_root, args, ctx) => {
        const space = await spaces.findSpace(requireSession(ctx), args.id);
        return space ? presentSpace(space) : null;
      },
    },

    Space: {
      accessLevel: (space, _args, ctx) =>
        spaces.accessLevel(requireSession(ctx), space.id),
    },

    Mutation: {
      spaceCreate: async (_root, args, ctx) =>
        presentSpace(await spaces.createSpace(requireSession(ctx), args.input)),
      spaceUpdate: async (_root, args, ctx) =>
        presentSpace(
          await spaces.updateSpace(requireSession(ctx), args.space, args.input),
        ),
      spaceDelete: async (_root, args, ctx) =>
        presentSpace(await spaces.deleteSpace(requireSession(ctx), args.space)),
    },
  };
}
