import { requireSession } from "../../api/graphql-context.ts";
import type {
  Resolvers,
  ResolversParentTypes,
} from "../../api/generated/resolvers.ts";
import type { Session } from "./session.ts";
import type { ApiKeyRecord } from "./identity-repo.ts";
import type { IdentityService } from "./identity-service.ts";
import { levelOfActions } from "./role.ts";

/** The parent of `ApiKey` field resolvers; the secret only right after creation. */
export interface ApiKeyNode {
  key: ApiKeyRecord;
  secret?: string;
  credentialsFile?: string;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export function identityResolvers(deps: {
  identity: IdentityService;
  /** The space a stack binding names, as the caller may see it. */
  findSpace(
    session: Session,
    id: string,
  ): Promise<ResolversParentTypes["Space"] | null>;
}): Resolvers {
  const { identity } = deps;
  const node = (key: ApiKeyRecord): ApiKeyNode => ({ key });
  return {
    Query: {
      apiKeys: async (_r, _a, ctx) =>
        (await identity.listApiKeys(requireSession(ctx))).map(node),
      apiKey: async (_r, args, ctx) => {
        const key = await identity.findApiKey(requireSession(ctx), args.id);
        return key ? node(key) : null;
      },
      roles: (_r, _a, ctx) => identity.listRoles(requireSession(ctx)),
      role: (_r, args, ctx) => identity.findRole(requireSession(ctx), args.id),
      apiKeyRoleBinding: (_r, args, ctx) =>
        identity.readBinding(requireSession(ctx), args.id, "api_key"),
      stackRoleBinding: (_r, args, ctx) =>
        identity.readBinding(requireSession(ctx), args.id, "stack"),
    },
    Mutation: {
      apiKeyCreate: async (_r, { input }, ctx) => {
        const created = await identity.createApiKey(requireSession(ctx), input);
        return {
          key: created.key,
          secret: created.secret,
          credentialsFile: created.credentialsFile,
        };
      },
      apiKeyUpdate: async (_r, args, ctx) =>
        node(
          await identity.updateApiKey(requireSession(ctx), args.id, args.input),
        ),
      apiKeyDelete: async (_r, args, ctx) =>
        node(await identity.deleteApiKey(requireSession(ctx), args.id)),
      roleCreate: (_r, { input }, ctx) =>
        identity.createRole(requireSession(ctx), input),
      roleUpdate: (_r, { id, input }, ctx) =>
        identity.updateRole(requireSession(ctx), id, {
          name: input.name,
          description: input.description,
          actions: input.actions ?? input.Actions,
        }),
      roleDelete: (_r, args, ctx) =>
        identity.deleteRole(requireSession(ctx), args.id),
      apiKeyRoleBindingCreate: (_r, { input }, ctx) =>
        identity.createApiKeyBinding(requireSession(ctx), input),
      apiKeyRoleBindingDelete: (_r, args, ctx) =>
        identity.deleteBinding(requireSession(ctx), args.id, "api_key"),
      stackRoleBindingCreate: (_r, { input }, ctx) =>
        identity.createStackBinding(requireSession(ctx), input),
      stackRoleBindingDelete: (_r, args, ctx) =>
        identity.deleteBinding(requireSession(ctx), args.id, "stack"),
    },
    ApiKey: {
      id: (n) => n.key.id,
      name: (n) => n.key.name,
      description: (n) => n.key.description,
      admin: (n) => n.key.admin,
      secret: (n) => n.secret ?? null,
      stackyardCredentialsFile: (n) => n.credentialsFile ?? null,
      type: () => "SECRET",
      teams: (n) => n.key.teams,
      isMachineUser: () => true,
      oidcSettings: () => null,
      createdAt: (n) => seconds(n.key.createdAt),
      lastUsedAt: (n) => (n.key.lastUsedAt ? seconds(n.key.lastUsedAt) : null),
      creator: (n) => n.key.createdBy ?? "",
      apiKeyRoleBindings: (n) => identity.bindingsOfApiKey(n.key.id),
      accessRules: async (n) => {
        const rules = n.key.legacy
          ? [
              {
                space: n.key.legacy.spaceId,
                spaceAccessLevel: n.key.legacy.level,
              },
            ]
          : [];
        for (const b of await identity.bindingsOfApiKey(n.key.id)) {
          const role = await identity.roleById(b.roleId);
          const level = role && levelOfActions(role.actions);
          if (level) rules.push({ space: b.spaceId, spaceAccessLevel: level });
        }
        return rules;
      },
    },
    Role: {
      actions: (r) => r.actions as never,
      roleBindingsCount: (r) => identity.countBindingsOfRole(r.id),
    },
    ApiKeyRoleBinding: {
      apiKeyID: (b) => b.actor.id,
      spaceID: (b) => b.spaceId,
      role: async (b) => {
        const role = await identity.roleById(b.roleId);
        if (!role)
          throw new Error(`role ${b.roleId} of binding ${b.id} is gone`);
        return role;
      },
    },
    StackRoleBinding: {
      stackID: (b) => b.actor.id,
      role: async (b) => {
        const role = await identity.roleById(b.roleId);
        if (!role)
          throw new Error(`role ${b.roleId} of binding ${b.id} is gone`);
        return role;
      },
      space: async (b, _a, ctx) => {
        const space = await deps.findSpace(requireSession(ctx), b.spaceId);
        if (!space)
          throw new Error(`space ${b.spaceId} of binding ${b.id} is gone`);
        return space;
      },
    },
  };
}
