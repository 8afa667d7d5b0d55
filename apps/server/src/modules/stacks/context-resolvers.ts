import type { IResolvers } from "mercurius";
import { requireSession, type GraphQLContext } from "../../api/graphql.ts";
import type { ConfigInput, ContextInput } from "./stack-inputs.ts";
import type { ContextService } from "./context-service.ts";
import {
  presentConfigElement,
  presentContext,
  presentContextStackAttachment,
  type ContextNode,
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
): IResolvers {
  return {
    Query: {
      stackyardContexts: async (
        _root: unknown,
        _args: unknown,
        ctx: GraphQLContext,
      ) =>
        (await contexts.listContexts(requireSession(ctx))).map(presentContext),
      context: async (
        _root: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const context = await contexts.findContext(
          requireSession(ctx),
          args.id,
        );
        return context ? presentContext(context) : null;
      },
    },

    Context: {
      config: async (
        context: ContextNode,
        _args: unknown,
        ctx: GraphQLContext,
      ) =>
        (await contexts.listContextConfig(requireSession(ctx), context.id)).map(
          presentConfigElement,
        ),
      configElement: async (
        context: ContextNode,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const el = await contexts.getContextConfigElement(
          requireSession(ctx),
          context.id,
          args.id,
        );
        return el ? presentConfigElement(el) : null;
      },
      attachedStack: async (
        context: ContextNode,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const attachment = await contexts.attachmentOf(
          requireSession(ctx),
          context.id,
          args.id,
        );
        return attachment ? presentContextStackAttachment(attachment) : null;
      },
    },

    Mutation: {
      contextCreateV2: async (
        _root: unknown,
        args: { input: ContextInput },
        ctx: GraphQLContext,
      ) =>
        presentContext(
          await contexts.createContext(requireSession(ctx), args.input),
        ),
      contextUpdateV2: async (
        _root: unknown,
        args: { id: string; input: ContextInput },
        ctx: GraphQLContext,
      ) =>
        presentContext(
          await contexts.updateContext(
            requireSession(ctx),
            args.id,
            args.input,
          ),
        ),
      contextDelete: async (
        _root: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) =>
        presentContext(
          await contexts.deleteContext(requireSession(ctx), args.id),
        ),
      contextAttach: async (
        _root: unknown,
        args: { id: string; stack: string; priority: number },
        ctx: GraphQLContext,
      ) =>
        presentContextStackAttachment(
          await contexts.attachContext(
            requireSession(ctx),
            args.id,
            args.stack,
            args.priority,
          ),
        ),
      contextDetach: async (
        _root: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) =>
        presentContextStackAttachment(
          await contexts.detachContext(requireSession(ctx), args.id),
        ),
      contextConfigAdd: async (
        _root: unknown,
        args: { context: string; config: ConfigInput },
        ctx: GraphQLContext,
      ) =>
        presentConfigElement(
          await contexts.addContextConfig(
            requireSession(ctx),
            args.context,
            args.config,
          ),
        ),
      contextConfigDelete: async (
        _root: unknown,
        args: { context: string; id: string },
        ctx: GraphQLContext,
      ) => {
        const el = await contexts.deleteContextConfig(
          requireSession(ctx),
          args.context,
          args.id,
        );
        return el ? presentConfigElement(el) : null;
      },
    },
  } as IResolvers;
}
