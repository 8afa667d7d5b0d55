import { requireSession } from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import type { ContextService } from "./context-service.ts";
import {
  presentConfigElement,
  presentContext,
  presentContextStackAttachment,
} from "./stack-presenters.ts";

export function contextResolvers(
  contexts: Pick<
    ContextService,
    | "findContext"
    | "listContexts"
    | "listContextConfig"
    | "getContextConfigElement"
    | "attachmentOf"
    | "createContext"
    | "updateContext"
    | "deleteContext"
    | "attachContext"
    | "detachContext"
    | "addContextConfig"
    | "deleteContextConfig"
  >,
): Resolvers {
  return {
    Query: {
      stackyardContexts: async (_root, _args, ctx) =>
        (await contexts.listContexts(requireSession(ctx))).map(presentContext),
      context: async (_root, args, ctx) => {
        const context = await contexts.findContext(
          requireSession(ctx),
          args.id,
        );
        return context ? presentContext(context) : null;
      },
    },

    Context: {
      config: async (context, _args, ctx) =>
        (await contexts.listContextConfig(requireSession(ctx), context.id)).map(
          presentConfigElement,
        ),
      configElement: async (context, args, ctx) => {
        const el = await contexts.getContextConfigElement(
          requireSession(ctx),
          context.id,
          args.id,
        );
        return el ? presentConfigElement(el) : null;
      },
      attachedStack: async (context, args, ctx) => {
        const attachment = await contexts.attachmentOf(
          requireSession(ctx),
          context.id,
          args.id,
        );
        return attachment ? presentContextStackAttachment(attachment) : null;
      },
    },

    Mutation: {
      contextCreateV2: async (_root, args, ctx) =>
        presentContext(
          await contexts.createContext(requireSession(ctx), args.input),
        ),
      contextUpdateV2: async (_root, args, ctx) =>
        presentContext(
          await contexts.updateContext(
            requireSession(ctx),
            args.id,
            args.input,
          ),
        ),
      contextDelete: async (_root, args, ctx) =>
        presentContext(
          await contexts.deleteContext(requireSession(ctx), args.id),
        ),
      contextAttach: async (_root, args, ctx) =>
        presentContextStackAttachment(
          await contexts.attachContext(
            requireSession(ctx),
            args.id,
            args.stack,
            args.priority,
          ),
        ),
      contextDetach: async (_root, args, ctx) =>
        presentContextStackAttachment(
          await contexts.detachContext(requireSession(ctx), args.id),
        ),
      contextConfigAdd: async (_root, args, ctx) =>
        presentConfigElement(
          await contexts.addContextConfig(
            requireSession(ctx),
            args.context,
            args.config,
          ),
        ),
      contextConfigDelete: async (_root, args, ctx) => {
        const el = await contexts.deleteContextConfig(
          requireSession(ctx),
          args.context,
          args.id,
        );
        return el ? presentConfigElement(el) : null;
      },
    },
  };
}
