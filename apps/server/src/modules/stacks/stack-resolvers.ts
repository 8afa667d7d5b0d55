import {
  requireSession,
  type GraphQLContext,
} from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import type { StackService } from "./stack-service.ts";
import {
  presentConfigElement,
  presentStack,
  presentStackContextAttachment,
  type StackNode,
} from "./stack-presenters.ts";

/**
 * Importing a state at stack creation (`stackCreate(stackObjectID)`), provided by the
 * state module (stacks comes before state, so it is injected in roles/api.ts).
 */
export interface StackStateImport {
  /** Throws unless `objectId` is an upload of `session` that parses as a state. */
  checkImport(session: Session, objectId: string): Promise<void>;
  importState(
    session: Session,
    stackId: string,
    objectId: string,
    opts: { atCreation: true },
  ): Promise<unknown>;
}

export function stackResolvers(
  stacks: Pick<
    StackService,
    | "findStack"
    | "listStacks"
    | "searchStacks"
    | "listStackFolders"
    | "canWrite"
    | "listStackConfig"
    | "getStackConfigElement"
    | "attachedContexts"
    | "runtimeConfig"
    | "createStack"
    | "updateStack"
    | "deleteStack"
    | "lockStack"
    | "unlockStack"
    | "enableStack"
    | "disableStack"
    | "setCurrentCommit"
    | "syncCommit"
    | "addStackConfig"
    | "deleteStackConfig"
  >,
  opts: { stateImport?: StackStateImport } = {},
): Resolvers {
  const loadStack = stackLoader(stacks);
  return {
    Query: {
      stack: (_root, args, ctx) => loadStack(args.id, ctx),
      stacks: async (_root, _args, ctx) =>
        (await stacks.listStacks(requireSession(ctx))).map((s) =>
          presentStack(s),
        ),
      stackyardStackFolders: (
        _root: unknown,
        _args: unknown,
        ctx: GraphQLContext,
      ) => stacks.listStackFolders(requireSession(ctx)),
      searchStacks: async (_root, args, ctx) => {
        const page = await stacks.searchStacks(requireSession(ctx), args.input);
        return {
          edges: page.edges.map((e) => ({
            cursor: e.cursor,
            node: presentStack(e.stack),
          })),
          pageInfo: {
            endCursor: page.endCursor,
            hasNextPage: page.hasNextPage,
            hasPreviousPage: Boolean(args.input.after),
          },
        };
      },
    },

    Stack: {
      canWrite: (stack, _args, ctx) =>
        stacks.canWrite(requireSession(ctx), stack),
      config: async (stack, _args, ctx) =>
        (await stacks.listStackConfig(requireSession(ctx), stack.id)).map(
          presentConfigElement,
        ),
      configElement: async (stack, args, ctx) => {
        const el = await stacks.getStackConfigElement(
          requireSession(ctx),
          stack.id,
          args.id,
        );
        return el ? presentConfigElement(el) : null;
      },
      attachedContexts: async (stack, _args, ctx) =>
        (await stacks.attachedContexts(requireSession(ctx), stack.id)).map(
          presentStackContextAttachment,
        ),
      runtimeConfig: async (stack, _args, ctx) =>
        (await stacks.runtimeConfig(requireSession(ctx), stack.id)).map(
          (entry) => ({
            context: entry.context
              ? presentStackContextAttachment(entry.context)
              : null,
            element: presentConfigElement(entry.element),
          }),
        ),
      // Non-null in the Spacelift SDL, so a client selecting them (the provider's stack
      // data source, spacectl's `stack show`) needs a list rather than an error:
      // - entities: the resources of the stack's current state. The state module reads
      //   only outputs so far; this fills in when the resources view is built.
      entities: () => [],
      // Stack dependencies and module versions are not built: nothing depends on
      // anything, and no stack is known to use a registry module version.
      dependsOn: () => [],
      isDependedOnBy: () => [],
      moduleVersionsUsed: () => [],
    },

    Mutation: {
      stackCreate: async (_root, args, ctx) => {
        const session = requireSession(ctx);
        const objectId = args.stackObjectID;
        const stateImport = opts.stateImport;
        if (objectId) {
          if (!stateImport)
            throw new ValidationError(
              "stackCreate stackObjectID: importing state is not available on this server",
            );
          if (!args.manageState)
            throw new ValidationError(
              "stackCreate stackObjectID: importing a state needs manageState: true",
            );
          // A file that is missing or not a state creates no stack.
          await stateImport.checkImport(session, objectId);
        }
        const stack = await stacks.createStack(session, args.input, {
          manageState: args.manageState,
          slug: args.slug,
        });
        if (objectId && stateImport) {
          try {
            await stateImport.importState(session, stack.id, objectId, {
              atCreation: true,
            });
          } catch (err) {
            // Leave no half-created stack behind; the provider would not know about it.
            await stacks.deleteStack(session, stack.id).catch(() => undefined);
            throw err;
          }
        }
        return presentStack(stack);
      },
      stackUpdate: async (_root, args, ctx) =>
        presentStack(
          await stacks.updateStack(requireSession(ctx), args.id, args.input),
        ),
      stackDelete: async (_root, args, ctx) =>
        presentStack(
          await stacks.deleteStack(requireSession(ctx), args.id, {
            destroyResources: args.destroyResources,
          }),
          { deleted: true },
        ),
      stackLock: async (_root, args, ctx) =>
        presentStack(
          await stacks.lockStack(requireSession(ctx), args.id, args.note),
        ),
      stackUnlock: async (_root, args, ctx) =>
        presentStack(await stacks.unlockStack(requireSession(ctx), args.id)),
      stackEnable: async (_root, args, ctx) =>
        presentStack(await stacks.enableStack(requireSession(ctx), args.id)),
      stackDisable: async (_root, args, ctx) =>
        presentStack(await stacks.disableStack(requireSession(ctx), args.id)),
      stackSyncCommit: async (_root, args, ctx) =>
        presentStack(await stacks.syncCommit(requireSession(ctx), args.id)),
      stackSetCurrentCommit: async (_root, args, ctx) =>
        presentStack(
          await stacks.setCurrentCommit(requireSession(ctx), args.id, args.sha),
        ),
      stackConfigAdd: async (_root, args, ctx) =>
        presentConfigElement(
          await stacks.addStackConfig(
            requireSession(ctx),
            args.stack,
            args.config,
          ),
        ),
      stackConfigDelete: async (_root, args, ctx) => {
        const el = await stacks.deleteStackConfig(
          requireSession(ctx),
          args.stack,
          args.id,
        );
        return el ? presentConfigElement(el) : null;
      },
    },
  };
}

/**
 * `stack(id)` as a function: the `Stack` node the caller may read, or null. Other
 * modules' resolvers that return a stack (e.g. `runStack`) use it so the node is the one
 * the stacks module's field resolvers expect.
 */
export function stackLoader(
  stacks: Pick<StackService, "findStack">,
): (stackId: string, ctx: GraphQLContext) => Promise<StackNode | null> {
  return async (stackId, ctx) => {
    const stack = await stacks.findStack(requireSession(ctx), stackId);
    return stack ? presentStack(stack) : null;
  };
}
