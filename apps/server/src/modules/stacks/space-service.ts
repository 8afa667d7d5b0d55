import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import { slugify, type AccessLevel, type Space } from "./stack.ts";
import { SpaceNotEmptyError, SpaceNotFoundError } from "./stack-errors.ts";
import {
  parseInput,
  spaceInputSchema,
  type SpaceInput,
} from "./stack-inputs.ts";
import type { SpaceAccess } from "./space-access.ts";
import * as spaces from "./space-repo.ts";

export interface SpaceServiceDeps {
  db: Database;
  clock: () => Date;
  access: SpaceAccess;
  newSpaceId?: (name: string) => string;
}

export const ROOT_SPACE_ID = "root";

/**
 * The space tree under `root`. Creating a space needs ADMIN on its parent; changing or
 * moving one needs ADMIN on it (and on the new parent); deleting needs ADMIN on it and
 * is refused while it has child spaces, stacks or contexts. `root` can be renamed but
 * not moved or deleted.
 *
 * Tree changes take a transaction-scoped advisory lock (lockSpaceTree), so the cycle
 * check of a move sees every move committed before it.
 */
export function createSpaceService(deps: SpaceServiceDeps) {
  const { db, clock, access } = deps;
  // Spacelift's shape: the slug of the name plus a ULID.
  const newSpaceId =
    deps.newSpaceId ??
    ((name: string) => `${slugify(name, "space")}-${ulid()}`);

  async function readable(session: Session, id: string): Promise<Space> {
    const space = await spaces.findSpace(db, id);
    if (!space) throw new SpaceNotFoundError(id);
    await access.assertCanRead(session, id, new SpaceNotFoundError(id));
    return space;
  }

  async function administrable(session: Session, id: string): Promise<Space> {
    const space = await spaces.findSpace(db, id);
    if (!space) throw new SpaceNotFoundError(id);
    await access.assertCanAdmin(session, id, new SpaceNotFoundError(id));
    return space;
  }

  return {
    getSpace: readable,

    async findSpace(session: Session, id: string): Promise<Space | null> {
      const space = await spaces.findSpace(db, id);
      if (!space || (await access.accessLevel(session, id)) === "NONE")
        return null;
      return space;
    },

    accessLevel: (session: Session, spaceId: string): Promise<AccessLevel> =>
      access.accessLevel(session, spaceId),

    async createSpace(session: Session, input: SpaceInput): Promise<Space> {
      const s = parseInput(spaceInputSchema, input, "spaceCreate input");
      await administrable(session, s.parentSpaceId);
      const space = await db.transaction().execute(async (tx) => {
        await spaces.lockSpaceTree(tx);
        if (!(await spaces.findSpace(tx, s.parentSpaceId)))
          throw new SpaceNotFoundError(s.parentSpaceId);
        return spaces.insertSpace(tx, {
          id: newSpaceId(s.name),
          ...s,
          createdAt: clock(),
        });
      });
      access.forget(session);
      return space;
    },

    async updateSpace(
      session: Session,
      id: string,
      input: SpaceInput,
    ): Promise<Space> {
      const s = parseInput(spaceInputSchema, input, "spaceUpdate input");
      const current = await administrable(session, id);
      if (id === ROOT_SPACE_ID) {
        if (s.parentSpaceId !== ROOT_SPACE_ID) {
          throw new ValidationError(
            "spaceUpdate input.parentSpace: the root space cannot be moved",
          );
        }
        const updated = await spaces.updateSpaceRow(db, id, {
          ...s,
          parentSpaceId: null,
        });
        if (!updated) throw new SpaceNotFoundError(id);
        return updated;
      }
      if (s.parentSpaceId !== current.parentSpaceId)
        await administrable(session, s.parentSpaceId);
      const updated = await db.transaction().execute(async (tx) => {
        await spaces.lockSpaceTree(tx);
        const lineage = await spaces.spaceLineage(tx, s.parentSpaceId);
        if (lineage.length === 0) throw new SpaceNotFoundError(s.parentSpaceId);
        if (lineage.includes(id)) {
          throw new ValidationError(
            `spaceUpdate input.parentSpace: ${s.parentSpaceId} is ${id === s.parentSpaceId ? "the space itself" : "below this space"}; that would make a cycle`,
          );
        }
        return spaces.updateSpaceRow(tx, id, s);
      });
      if (!updated) throw new SpaceNotFoundError(id);
      access.forget(session);
      return updated;
    },

    /** Deletes an empty space; returns it as it was. */
    async deleteSpace(session: Session, id: string): Promise<Space> {
      if (id === ROOT_SPACE_ID)
        throw new ValidationError(
          "spaceDelete space: the root space cannot be deleted",
        );
      const space = await administrable(session, id);
      await db.transaction().execute(async (tx) => {
        await spaces.lockSpaceTree(tx);
        const contents = await spaces.spaceContents(tx, id);
        const parts = [
          contents.children && `${contents.children} child space(s)`,
          contents.stacks && `${contents.stacks} stack(s)`,
          contents.contexts && `${contents.contexts} context(s)`,
        ].filter(Boolean);
        if (parts.length) {
          throw new SpaceNotEmptyError(
            `space ${id} still contains ${parts.join(", ")}; move or delete them first`,
          );
        }
        try {
          await spaces.deleteSpaceRow(tx, id);
        } catch (err) {
          // Worker pools, API keys and other modules' rows also reference spaces.
          if ((err as { code?: string }).code === "23503") {
            throw new SpaceNotEmptyError(
              `space ${id} is still used (worker pools, API keys or policies); move or delete them first`,
              {
                cause: err,
              },
            );
          }
          throw err;
        }
      });
      access.forget(session);
      return space;
    },
  };
}

export type SpaceService = ReturnType<typeof createSpaceService>;
