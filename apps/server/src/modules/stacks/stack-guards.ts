import type { Database } from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import { ConflictError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import {
  nextFreeSlug,
  type AccessLevel,
  type Stack,
  type StackView,
} from "./stack.ts";
import {
  OutOfSpaceReachError,
  SpaceNotFoundError,
  StackNotFoundError,
  WorkerPoolNotFoundForStackError,
} from "./stack-errors.ts";
import type { SpaceAccess } from "./space-access.ts";
import * as queries from "./stack-queries.ts";
import { findSpace } from "./space-repo.ts";

export interface StackServiceDeps {
  db: Database;
  encryptor: Pick<Encryptor, "encrypt" | "decrypt">;
  clock: () => Date;
  access: SpaceAccess;
  /**
   * The space of a VCS integration (null: no such integration), for `vcsIntegrationId`
   * (implemented by the VCS module, which comes after stacks; injected by the
   * composition root). Absent: the id is not checked.
   */
  vcsIntegrations?: { spaceOf(id: string): Promise<string | null> };
  /**
   * The head commit of a stack's tracked branch in its repository, null when the branch
   * does not exist (implemented by the VCS module; injected by the composition root).
   * Absent: `syncCommit` is refused as not implemented.
   */
  branchHeads?: { headOf(stack: StackView): Promise<string | null> };
  /** STACKYARD_ALLOW_LOCAL_REPOSITORIES: local paths and file:// URLs as repositories. */
  allowLocalRepositories?: boolean;
}

/** How a user lock names its holder: `api::<keyId>` for API keys, the name for users. */
export function lockHolder(session: Session): string {
  return session.kind === "api_key" ? `api::${session.id}` : session.name;
}

/**
 * What the stack service's use cases share: the caller's access to a stack (a stack the
 * caller cannot read is reported as not found), the checks on where a stack may point
 * (target space, worker pool, VCS integration) and slug allocation.
 */
export function createStackGuards(deps: StackServiceDeps) {
  const { db, encryptor, clock, access } = deps;

  async function readable(session: Session, id: string): Promise<StackView> {
    const stack = await queries.findStackView(db, id);
    if (!stack) throw new StackNotFoundError(id);
    await access.assertCanRead(
      session,
      stack.spaceId,
      new StackNotFoundError(id),
    );
    return stack;
  }

  async function writable(
    session: Session,
    id: string,
  ): Promise<{ stack: StackView; level: AccessLevel }> {
    const stack = await queries.findStackView(db, id);
    if (!stack) throw new StackNotFoundError(id);
    const level = await access.assertCanWrite(
      session,
      stack.spaceId,
      new StackNotFoundError(id),
    );
    return { stack, level };
  }

  async function view(id: string): Promise<StackView> {
    const stack = await queries.findStackView(db, id);
    if (!stack) throw new StackNotFoundError(id);
    return stack;
  }

  async function requireTargetSpace(
    session: Session,
    spaceId: string,
  ): Promise<void> {
    if (!(await findSpace(db, spaceId))) throw new SpaceNotFoundError(spaceId);
    await access.assertCanWrite(
      session,
      spaceId,
      new SpaceNotFoundError(spaceId),
    );
  }

  /**
   * A stack's worker pool and VCS integration must live in a space the stack may use
   * (`access.usableSpaces`): otherwise one space's writer could run code on another
   * space's hosts, or clone with another space's integration token.
   */
  async function requireWorkerPool(
    label: string,
    id: string | null,
    stackSpaceId: string,
  ): Promise<void> {
    if (id === null) return;
    const poolSpace = await queries.workerPoolSpace(db, id);
    if (poolSpace === null) throw new WorkerPoolNotFoundForStackError(id);
    if (!(await access.usableSpaces(stackSpaceId)).includes(poolSpace))
      throw new OutOfSpaceReachError(
        `${label}.workerPool`,
        `worker pool ${id}`,
        poolSpace,
        stackSpaceId,
      );
  }

  async function requireVcsIntegration(
    label: string,
    id: string | null,
    stackSpaceId: string,
  ): Promise<void> {
    if (id === null || !deps.vcsIntegrations) return;
    const integrationSpace = await deps.vcsIntegrations.spaceOf(id);
    if (integrationSpace === null)
      throw new ValidationError(
        `${label}.vcsIntegrationId: VCS integration ${id} does not exist; pass the id of an existing integration (stackyardVcsIntegrations lists them), or null to use the provider's default integration`,
      );
    if (!(await access.usableSpaces(stackSpaceId)).includes(integrationSpace))
      throw new OutOfSpaceReachError(
        `${label}.vcsIntegrationId`,
        `VCS integration ${id}`,
        integrationSpace,
        stackSpaceId,
      );
  }

  async function allocateSlug(
    slug: string,
    insert: (id: string) => Promise<Stack | null>,
  ): Promise<Stack> {
    // Another creator may take the chosen id between the read and the insert; the
    // insert is ON CONFLICT DO NOTHING, so losing the race just means choosing again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const id = nextFreeSlug(
        slug,
        await queries.slugsInUse(db, "stacks", slug),
      );
      const created = await insert(id);
      if (created) return created;
    }
    throw new ConflictError(
      `could not allocate an id for stack "${slug}"; try again`,
    );
  }

  return {
    db,
    encryptor,
    clock,
    access,
    readable,
    writable,
    view,
    requireTargetSpace,
    requireWorkerPool,
    requireVcsIntegration,
    allocateSlug,
  };
}

export type StackGuards = ReturnType<typeof createStackGuards>;
