import {
  requireSession,
  type GraphQLContext,
} from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import type { Session } from "../auth/index.ts";
import { SpaceNotFoundError, type Space } from "../stacks/index.ts";
import type { Policy, PolicyAttachment } from "./policy.ts";
import type {
  PolicyInput,
  PolicyService,
  SearchArg,
} from "./policy-service.ts";

const unix = (d: Date) => Math.floor(d.getTime() / 1000);

/** The parent of the `Policy` field resolvers (the `mappers` entry in codegen.ts). */
export type PolicyNode = ReturnType<typeof presentPolicy>;

function presentPolicy(p: Policy) {
  return {
    id: p.id,
    name: p.name,
    description: p.description || null,
    body: p.body,
    type: p.type,
    labels: p.labels,
    space: p.spaceId,
    engineType: p.engineType,
    createdAt: unix(p.createdAt),
    updatedAt: unix(p.updatedAt),
  };
}

function presentAttachment(a: PolicyAttachment) {
  return {
    id: a.id,
    stackId: a.stackId,
    stackName: a.stackName,
    isModule: false,
    isAutoattached: a.isAutoattached,
  };
}

export function policyResolvers(deps: {
  policies: PolicyService;
  /** `Policy.spaceDetails`: the space (readable by the caller, who can read the policy). */
  findSpace: (session: Session, spaceId: string) => Promise<Space | null>;
}): Resolvers {
  const { policies } = deps;
  return {
    Query: {
      policy: async (
        _r: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const p = await policies.find(requireSession(ctx), args.id);
        return p ? presentPolicy(p) : null;
      },
      searchPolicies: async (
        _r: unknown,
        args: { input: SearchArg },
        ctx: GraphQLContext,
      ) => {
        const page = await policies.search(requireSession(ctx), args.input);
        const edges = page.policies.map((p) => ({
          cursor: page.cursorOf(p),
          node: presentPolicy(p),
        }));
        return {
          edges,
          pageInfo: {
            endCursor: edges.at(-1)?.cursor ?? null,
            hasNextPage: page.hasNextPage,
            hasPreviousPage: Boolean(args.input.after),
          },
        };
      },
      policies: async (_r: unknown, _a: unknown, ctx: GraphQLContext) =>
        (await policies.listAll(requireSession(ctx))).map(presentPolicy),
      policyRuntime: async (_r: unknown, _a: unknown, ctx: GraphQLContext) => {
        requireSession(ctx);
        return { openPolicyAgentVersion: await policies.runtimeVersion() };
      },
    },
    Mutation: {
      policyCreatev2: async (
        _r: unknown,
        args: { input: PolicyInput & { type: string } },
        ctx: GraphQLContext,
      ) =>
        presentPolicy(await policies.create(requireSession(ctx), args.input)),
      policyUpdatev2: async (
        _r: unknown,
        args: { id: string; input: PolicyInput },
        ctx: GraphQLContext,
      ) =>
        presentPolicy(
          await policies.update(requireSession(ctx), args.id, args.input),
        ),
      policyDelete: async (
        _r: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) => presentPolicy(await policies.delete(requireSession(ctx), args.id)),
      policyAttach: async (
        _r: unknown,
        args: { id: string; stack: string },
        ctx: GraphQLContext,
      ) =>
        presentAttachment(
          await policies.attach(requireSession(ctx), args.id, args.stack),
        ),
      policyDetach: async (
        _r: unknown,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const a = await policies.detach(requireSession(ctx), args.id);
        return a ? presentAttachment(a) : null;
      },
      policySimulate: (
        _r: unknown,
        args: { body: string; input: string; type: string },
        ctx: GraphQLContext,
      ) => policies.simulate(requireSession(ctx), args),
    },
    Policy: {
      spaceDetails: async (p: PolicyNode, _a: unknown, ctx: GraphQLContext) => {
        const s = await deps.findSpace(requireSession(ctx), p.space);
        // `spaceDetails` is non-null: a space that cannot be read is an error naming it.
        if (!s) throw new SpaceNotFoundError(p.space);
        return {
          id: s.id,
          name: s.name,
          description: s.description,
          inheritEntities: s.inheritEntities,
          parentSpace: s.parentSpaceId,
          labels: s.labels,
        };
      },
      evaluationRecords: async (
        p: PolicyNode,
        _a: unknown,
        ctx: GraphQLContext,
      ) => {
        const page = await policies.samples(requireSession(ctx), p.id, null);
        return page.records.map((r) => ({
          key: r.key,
          outcome: r.outcome,
          timestamp: unix(r.createdAt),
        }));
      },
      searchEvaluationRecords: async (
        p: PolicyNode,
        args: { input: SearchArg },
        ctx: GraphQLContext,
      ) => {
        const page = await policies.samples(
          requireSession(ctx),
          p.id,
          args.input,
        );
        const edges = page.records.map((r) => ({
          cursor: page.cursorOf(r),
          node: {
            key: r.key,
            outcome: r.outcome,
            timestamp: unix(r.createdAt),
          },
        }));
        return {
          edges,
          pageInfo: {
            endCursor: edges.at(-1)?.cursor ?? null,
            hasNextPage: page.hasNextPage,
            hasPreviousPage: Boolean(args.input.after),
          },
        };
      },
      evaluationSample: async (
        p: PolicyNode,
        args: { key: string },
        ctx: GraphQLContext,
      ) => {
        const s = await policies.sample(requireSession(ctx), p.id, args.key);
        return s ? { input: s.input, body: s.body } : null;
      },
      attachedStack: async (
        p: PolicyNode,
        args: { id: string },
        ctx: GraphQLContext,
      ) => {
        const a = await policies.attachmentTo(
          requireSession(ctx),
          p.id,
          args.id,
        );
        return a ? presentAttachment(a) : null;
      },
    },
    Stack: {
      attachedPolicies: async (
        stack: { id: string; name: string; labels: string[]; spaceId: string },
        _a: unknown,
        ctx: GraphQLContext,
      ) =>
        (await policies.attachedToStack(requireSession(ctx), stack)).map(
          (a) => ({
            id: a.id,
            policyId: a.policyId,
            policyName: a.policyName,
            policyType: a.policyType,
            isAutoattached: a.isAutoattached,
          }),
        ),
    },
  };
}
