import {
  requireSession,
  type GraphQLContext,
  type Resolvers,
} from "../../api/graphql.ts";
import type { LocalPreviews } from "./local-preview-service.ts";

const METADATA_HEADER = "spacelift-user-provided-run-metadata";

/** `uploadLocalWorkspace` and `runProposeLocalWorkspace` (spacectl `stack local-preview`). */
export function localPreviewResolvers(
  previews: Pick<LocalPreviews, "reserveUpload" | "propose" | "isLocalPreview">,
): Resolvers {
  return {
    Run: {
      stackyardLocalPreview: (run: { id: string }) =>
        previews.isLocalPreview(run.id),
    },
    Mutation: {
      uploadLocalWorkspace: (
        _: unknown,
        args: { stack: string },
        ctx: GraphQLContext,
      ) => previews.reserveUpload(requireSession(ctx), args.stack),
      runProposeLocalWorkspace: (
        _: unknown,
        args: {
          stack: string;
          workspace: string;
          environmentVarsOverrides?: Array<{
            key: string;
            value: string;
          }> | null;
        },
        ctx: GraphQLContext,
      ) => {
        const metadata = ctx.headers[METADATA_HEADER];
        return previews.propose(requireSession(ctx), {
          stackId: args.stack,
          workspaceId: args.workspace,
          overrides: args.environmentVarsOverrides,
          metadata: (Array.isArray(metadata) ? metadata[0] : metadata) ?? null,
        });
      },
    },
  };
}
