import { randomBytes } from "node:crypto";
import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import {
  isForeignKeyViolation,
  isUniqueViolation,
} from "../../platform/db/pg-errors.ts";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  NotImplementedError,
  ValidationError,
} from "../../platform/errors.ts";
import { hashSecret } from "./auth-service.ts";
import type { Session } from "./session.ts";
import * as repo from "./identity-repo.ts";
import {
  actions,
  DESCRIPTION_MAX,
  name,
  teams,
  text,
} from "./identity-validation.ts";
import { slugOfRoleName } from "./role.ts";

export interface CreatedApiKey {
  key: repo.ApiKeyRecord;
  /** Shown once: only its sha256 is stored. */
  secret: string;
  /** The file a person downloads: id, secret and the `.terraformrc` snippet. */
  credentialsFile: string;
}

/**
 * API keys, roles and role bindings: the administration of identity. Every operation
 * needs a root admin session (spacelift-reference §1.8: only Root Space Admin manages
 * roles and API keys), except that a key may read itself.
 *
 * Secrets: 32 random bytes, hex; only their sha256 is stored (the secret is high
 * entropy, so a slow hash adds nothing). A secret is returned by `createApiKey` and
 * never again, and nothing here logs it.
 */
export function createIdentityService(deps: {
  db: Database;
  /** The URL clients reach the API at, for the `.terraformrc` snippet's host. */
  publicUrl: string;
}) {
  const { db } = deps;

  function requireRootAdmin(session: Session, what: string): void {
    if (!session.admin)
      throw new ForbiddenError(
        `forbidden: ${what} needs a root admin; ${session.name} is not one`,
      );
  }

  async function keyOrThrow(id: string): Promise<repo.ApiKeyRecord> {
    const key = await repo.findApiKey(db, id);
    if (!key) throw new NotFoundError("could not find api key");
    return key;
  }

  async function roleOrThrow(id: string, field: string) {
    const role = await repo.findRole(db, id);
    if (!role) throw new NotFoundError(`${field}: role ${id} not found`);
    return role;
  }

  function credentialsFile(id: string, secret: string): string {
    const host = new URL(deps.publicUrl).host;
    return [
      `API key id: ${id}`,
      `API key secret: ${secret}`,
      "",
      "Use them as SPACELIFT_API_KEY_ID / SPACELIFT_API_KEY_SECRET (spacectl, the",
      "Terraform provider) or STACKYARD_API_KEY_ID / STACKYARD_API_KEY_SECRET.",
      "",
      "To use this key from Terraform or OpenTofu outside Stackyard, add to .terraformrc:",
      "",
      `credentials "${host}" {`,
      `  token = "${id}/${secret}"`,
      "}",
      "",
    ].join("\n");
  }

  async function createBinding(
    session: Session,
    input: { roleId: string; spaceId: string; actor: repo.BindingActor },
    fields: { actor: string; role: string; space: string },
  ): Promise<repo.BindingRecord> {
    requireRootAdmin(session, "attaching a role");
    const role = await roleOrThrow(input.roleId, fields.role);
    if (input.actor.kind === "api_key") await keyOrThrow(input.actor.id);
    const binding = {
      id: `rb_${ulid().toLowerCase()}`,
      ...input,
      roleId: role.id,
    };
    try {
      await repo.insertBinding(db, binding);
    } catch (err) {
      if (isForeignKeyViolation(err, "role_bindings_space_id_fkey"))
        throw new NotFoundError(
          `${fields.space}: space ${input.spaceId} not found`,
        );
      if (isForeignKeyViolation(err))
        throw new NotFoundError(
          `${fields.actor}: ${input.actor.kind} ${input.actor.id} not found`,
        );
      if (isUniqueViolation(err))
        throw new ConflictError(
          `${fields.actor}: ${input.actor.id} already holds role ${input.roleId} in space ${input.spaceId}`,
        );
      throw err;
    }
    return binding;
  }

  async function deleteBinding(
    session: Session,
    id: string,
    kind: repo.BindingActor["kind"],
  ): Promise<repo.BindingRecord> {
    requireRootAdmin(session, "detaching a role");
    const binding = await repo.findBinding(db, id, kind);
    if (!binding) throw new NotFoundError(`role binding ${id} not found`);
    await repo.deleteBinding(db, id);
    return binding;
  }

  async function readBinding(
    session: Session,
    id: string,
    kind: repo.BindingActor["kind"],
  ): Promise<repo.BindingRecord | null> {
    requireRootAdmin(session, "reading role bindings");
    return repo.findBinding(db, id, kind);
  }

  return {
    async listApiKeys(session: Session) {
      requireRootAdmin(session, "listing API keys");
      return repo.listApiKeys(db);
    },

    /** A root admin reads any key, a key reads itself; others read null (no leak). */
    async findApiKey(session: Session, id: string) {
      if (!session.admin && !(session.kind === "api_key" && session.id === id))
        return null;
      return repo.findApiKey(db, id);
    },

    async createApiKey(
      session: Session,
      input: {
        name: string;
        admin: boolean;
        description?: string | null;
        teams?: readonly string[] | null;
        oidc?: unknown;
      },
    ): Promise<CreatedApiKey> {
      requireRootAdmin(session, "creating an API key");
      if (input.oidc)
        throw new NotImplementedError(
          "input.oidc: OIDC API keys are not supported by Stackyard yet; create a secret key",
        );
      const id = ulid();
      const secret = randomBytes(32).toString("hex");
      await repo.insertApiKey(db, {
        id,
        name: name("input.name", input.name),
        description: text(
          "input.description",
          input.description ?? "",
          DESCRIPTION_MAX,
        ),
        admin: input.admin,
        teams: teams("input.teams", input.teams ?? []),
        secretHash: hashSecret(secret),
        createdBy: session.name,
      });
      return {
        key: await keyOrThrow(id),
        secret,
        credentialsFile: credentialsFile(id, secret),
      };
    },

    async updateApiKey(
      session: Session,
      id: string,
      input: {
        name?: string | null;
        description?: string | null;
        teams?: readonly string[] | null;
        oidcClaimMappings?: unknown;
      },
    ) {
      requireRootAdmin(session, "updating an API key");
      await keyOrThrow(id);
      if (
        input.oidcClaimMappings &&
        JSON.stringify(input.oidcClaimMappings) !== '{"entries":[]}'
      )
        throw new NotImplementedError(
          "input.oidcClaimMappings: OIDC API keys are not supported by Stackyard yet",
        );
      await repo.updateApiKey(db, id, {
        ...(input.name != null ? { name: name("input.name", input.name) } : {}),
        ...(input.description != null
          ? {
              description: text(
                "input.description",
                input.description,
                DESCRIPTION_MAX,
              ),
            }
          : {}),
        ...(input.teams != null
          ? { teams: teams("input.teams", input.teams) }
          : {}),
      });
      return keyOrThrow(id);
    },

    async deleteApiKey(session: Session, id: string) {
      requireRootAdmin(session, "deleting an API key");
      const key = await keyOrThrow(id);
      await db.transaction().execute((tx) => repo.deleteApiKey(tx, id));
      return key;
    },

    bindingsOfApiKey: (id: string) =>
      repo.bindingsOf(db, { kind: "api_key", id }),
    /** Built-in and custom roles by id, for presenting bindings (not a session check). */
    roleById: (id: string) => repo.findRole(db, id),
    countBindingsOfRole: (id: string) => repo.countBindingsOfRole(db, id),

    async listRoles(session: Session) {
      requireRootAdmin(session, "listing roles");
      return repo.listRoles(db);
    },

    async findRole(session: Session, id: string) {
      requireRootAdmin(session, "reading roles");
      return repo.findRole(db, id);
    },

    async createRole(
      session: Session,
      input: {
        name: string;
        description?: string | null;
        actions: readonly string[];
      },
    ) {
      requireRootAdmin(session, "creating a role");
      const roleName = name("input.name", input.name);
      const slug = slugOfRoleName(roleName);
      if (!slug)
        throw new ValidationError(
          "input.name needs at least one letter or digit",
        );
      const id = `role_${ulid().toLowerCase()}`;
      try {
        await db
          .insertInto("roles")
          .values({
            id,
            slug,
            name: roleName,
            description: text(
              "input.description",
              input.description ?? "",
              DESCRIPTION_MAX,
            ),
            actions: actions("input.actions", input.actions),
          })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ConflictError(
            `input.name: a role with slug ${slug} exists`,
          );
        throw err;
      }
      return roleOrThrow(id, "id");
    },

    async updateRole(
      session: Session,
      id: string,
      input: {
        name?: string | null;
        description?: string | null;
        actions?: readonly string[] | null;
      },
    ) {
      requireRootAdmin(session, "updating a role");
      const role = await roleOrThrow(id, "id");
      if (role.isSystem)
        throw new ForbiddenError(
          `id: ${role.name} is a built-in role and cannot change`,
        );
      await db
        .updateTable("roles")
        .set({
          ...(input.name != null
            ? { name: name("input.name", input.name) }
            : {}),
          ...(input.description != null
            ? {
                description: text(
                  "input.description",
                  input.description,
                  DESCRIPTION_MAX,
                ),
              }
            : {}),
          ...(input.actions != null
            ? { actions: actions("input.actions", input.actions) }
            : {}),
          updated_at: new Date(),
        })
        .where("id", "=", role.id)
        .execute();
      return roleOrThrow(role.id, "id");
    },

    async deleteRole(session: Session, id: string) {
      requireRootAdmin(session, "deleting a role");
      const role = await roleOrThrow(id, "id");
      if (role.isSystem)
        throw new ForbiddenError(
          `id: ${role.name} is a built-in role and cannot be deleted`,
        );
      const bound = await repo.countBindingsOfRole(db, role.id);
      if (bound)
        throw new ConflictError(
          `id: role ${role.slug} is still attached ${bound} time(s); detach it first`,
        );
      await db.deleteFrom("roles").where("id", "=", role.id).execute();
      return role;
    },

    createApiKeyBinding: (
      session: Session,
      input: { apiKeyID: string; roleID: string; spaceID: string },
    ) =>
      createBinding(
        session,
        {
          roleId: input.roleID,
          spaceId: input.spaceID,
          actor: { kind: "api_key", id: input.apiKeyID },
        },
        {
          actor: "input.apiKeyID",
          role: "input.roleID",
          space: "input.spaceID",
        },
      ),
    createStackBinding: (
      session: Session,
      input: { stackID: string; roleID: string; spaceID: string },
    ) =>
      createBinding(
        session,
        {
          roleId: input.roleID,
          spaceId: input.spaceID,
          actor: { kind: "stack", id: input.stackID },
        },
        {
          actor: "input.stackID",
          role: "input.roleID",
          space: "input.spaceID",
        },
      ),
    readBinding,
    deleteBinding,
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
