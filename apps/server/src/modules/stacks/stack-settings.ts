import { ConflictError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import { slugify, SLUG_PATTERN, type Stack, type StackView } from "./stack.ts";
import { StackNotFoundError, StackProtectedError } from "./stack-errors.ts";
import {
  parseInput,
  stackInputSchema,
  type StackInput,
} from "./stack-inputs.ts";
import { parseStackSearch, type SearchInputArg } from "./stack-search.ts";
import * as stacks from "./stack-repo.ts";
import * as queries from "./stack-queries.ts";
import * as config from "./config-element-repo.ts";
import { assertRepositoryAllowed } from "./stack-repository.ts";
import type { StackGuards, StackServiceDeps } from "./stack-guards.ts";

/**
 * Reading, listing and searching stacks, and creating, updating and deleting them.
 * `loadStack` takes no Session: it is for the run engine (see stack-service.ts).
 */
export function createStackSettings(
  deps: Pick<StackServiceDeps, "allowLocalRepositories">,
  guards: StackGuards,
) {
  const {
    db,
    clock,
    access,
    readable,
    writable,
    view,
    requireTargetSpace,
    requireWorkerPool,
    requireVcsIntegration,
    allocateSlug,
  } = guards;
  const repositoryPolicy = { allowLocal: deps.allowLocalRepositories ?? false };

  return {
    /** The stack if the caller may read it; StackNotFoundError otherwise. */
    getStack: readable,

    /** The stack if the caller may read it; null otherwise (GraphQL `stack(id)`). */
    async findStack(session: Session, id: string): Promise<StackView | null> {
      const stack = await queries.findStackView(db, id);
      if (
        !stack ||
        (await access.accessLevel(session, stack.spaceId)) === "NONE"
      )
        return null;
      return stack;
    },

    /** Trusted read for the run engine: no access check. */
    loadStack: (id: string): Promise<Stack | null> => stacks.findStack(db, id),

    async canWrite(
      session: Session,
      stack: Pick<Stack, "spaceId">,
    ): Promise<boolean> {
      const level = await access.accessLevel(session, stack.spaceId);
      return level === "WRITE" || level === "ADMIN";
    },

    async listStacks(session: Session): Promise<StackView[]> {
      return queries.listStackViews(db, await access.visibleSpaces(session));
    },

    /** The folders (`folder:<path>` labels) of the stacks the caller can read. */
    async listStackFolders(session: Session): Promise<string[]> {
      return queries.listStackFolders(db, await access.visibleSpaces(session));
    },

    async searchStacks(session: Session, input: SearchInputArg) {
      const search = parseStackSearch(input);
      const { edges, hasNextPage } = await queries.searchStackViews(
        db,
        search,
        await access.visibleSpaces(session),
      );
      return { edges, hasNextPage, endCursor: edges.at(-1)?.cursor ?? null };
    },

    /**
     * Creates a stack. Its id is `slug` when given (must be free), else derived from
     * the name and made unique with a `-<n>` suffix. `manageState` is fixed here: it
     * cannot be changed later.
     */
    async createStack(
      session: Session,
      input: StackInput,
      opts: { manageState?: boolean; slug?: string | null } = {},
    ): Promise<StackView> {
      const settings = parseInput(stackInputSchema, input, "stackCreate input");
      assertRepositoryAllowed("stackCreate input", settings, repositoryPolicy);
      const spaceId = settings.spaceId ?? (await access.homeSpace(session));
      await requireTargetSpace(session, spaceId);
      await requireWorkerPool(
        "stackCreate input",
        settings.workerPoolId,
        spaceId,
      );
      await requireVcsIntegration(
        "stackCreate input",
        settings.vcsIntegrationId,
        spaceId,
      );
      const now = clock();
      const insert = (id: string) =>
        stacks.insertStackIfAbsent(db, {
          id,
          settings: { ...settings, spaceId },
          manageState: opts.manageState ?? true,
          now,
        });
      let created: Stack;
      if (opts.slug) {
        if (!SLUG_PATTERN.test(opts.slug)) {
          throw new ValidationError(
            "stackCreate slug: must be lowercase letters, digits and single dashes",
          );
        }
        const inserted = await insert(opts.slug);
        if (!inserted)
          throw new ConflictError(
            `stackCreate slug: stack ${opts.slug} already exists`,
          );
        created = inserted;
      } else {
        created = await allocateSlug(slugify(settings.name), insert);
      }
      return view(created.id);
    },

    /** Replaces every setting (the Terraform provider sends the full input). */
    async updateStack(
      session: Session,
      id: string,
      input: StackInput,
    ): Promise<StackView> {
      const settings = parseInput(stackInputSchema, input, "stackUpdate input");
      assertRepositoryAllowed("stackUpdate input", settings, repositoryPolicy);
      const { stack } = await writable(session, id);
      const spaceId = settings.spaceId ?? stack.spaceId;
      if (spaceId !== stack.spaceId) await requireTargetSpace(session, spaceId);
      await requireWorkerPool(
        "stackUpdate input",
        settings.workerPoolId,
        spaceId,
      );
      await requireVcsIntegration(
        "stackUpdate input",
        settings.vcsIntegrationId,
        spaceId,
      );
      await stacks.updateStackSettings(
        db,
        id,
        { ...settings, spaceId },
        clock(),
      );
      return view(id);
    },

    /**
     * Deletes the stack with its attachments, environment and runs (FK cascade);
     * returns it as it was. Refused while `protectFromDeletion` is on.
     */
    async deleteStack(
      session: Session,
      id: string,
      opts: { destroyResources?: boolean | null } = {},
    ): Promise<StackView> {
      if (opts.destroyResources) {
        throw new ValidationError(
          "stackDelete destroyResources: destroying resources on delete is not supported; run `tofu destroy` as a task first",
        );
      }
      const { stack } = await writable(session, id);
      if (stack.protectFromDeletion) throw new StackProtectedError(id);
      await db.transaction().execute(async (tx) => {
        await config.deleteConfigRowsOf(tx, { type: "stack", id });
        if (!(await stacks.deleteStackRow(tx, id)))
          throw new StackNotFoundError(id);
      });
      return stack;
    },
  };
}
