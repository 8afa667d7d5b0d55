import type { Database } from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import {
  ConflictError,
  NotImplementedError,
  ValidationError,
} from "../../platform/errors.ts";
import { actorOf, formatActor, type Session } from "../auth/index.ts";
import {
  nextFreeSlug,
  slugify,
  SLUG_PATTERN,
  type AccessLevel,
  type ConfigElement,
  type Context,
  type ContextAttachment,
  type HookLists,
  type Stack,
  type StackView,
} from "./stack.ts";
import {
  AccessDeniedError,
  OutOfSpaceReachError,
  SpaceNotFoundError,
  StackBranchNotFoundError,
  StackLockedError,
  StackNotFoundError,
  StackNotLockedError,
  StackProtectedError,
  WorkerPoolNotFoundForStackError,
} from "./stack-errors.ts";
import {
  parseInput,
  stackInputSchema,
  type StackInput,
} from "./stack-inputs.ts";
import { parseStackSearch, type SearchInputArg } from "./stack-search.ts";
import {
  autoAttaches,
  effectiveHooks,
  resolveEffectiveConfig,
  type ConfigSourceLabel,
} from "./stack-environment.ts";
import type { SpaceAccess } from "./space-access.ts";
import * as stacks from "./stack-repo.ts";
import * as queries from "./stack-queries.ts";
import * as contexts from "./context-repo.ts";
import * as config from "./config-element-repo.ts";
import {
  checksumOf,
  createConfigElementOps,
  decryptElement,
  presentElement,
  type DecryptedElement,
} from "./config-element.ts";
import { findSpace } from "./space-repo.ts";
import { assertRepositoryAllowed } from "./stack-repository.ts";

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

/** One element of a stack's effective environment, as the run engine receives it. */
export interface EffectiveConfigElement extends DecryptedElement {
  /** `runtime`, `stack` or `context:<contextId>`. */
  source: ConfigSourceLabel;
}

/** An attached context as a stack sees it, with the context's elements (secrets masked). */
export interface StackContextAttachmentView extends ContextAttachment {
  config: ConfigElement[];
}

export interface RuntimeConfigEntry {
  /** null when the element is the stack's own. */
  context: StackContextAttachmentView | null;
  element: ConfigElement;
}

/** How a user lock (and a run's actor) names its holder: auth's actor name. */
export function lockHolder(session: Session): string {
  return formatActor(actorOf(session));
}

const SHA_PATTERN = /^[0-9a-f]{7,64}$/i;

/**
 * Stacks: settings, user lock, enable/disable, tracked commit, their environment
 * variables and mounted files, and the effective environment a run gets.
 *
 * Access: every method taking a Session checks the caller's level on the stack's space
 * (space-access.ts). A stack the caller cannot read is reported as not found.
 * `loadStack`, `effectiveConfig` and `effectiveHooks` take no Session: they are for the
 * run engine, which acts on runs it has already authorised, and must never be exposed
 * to callers as they are.
 */
export function createStackService(deps: StackServiceDeps) {
  const { db, encryptor, clock, access } = deps;
  const repositoryPolicy = { allowLocal: deps.allowLocalRepositories ?? false };

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

  const configOps = createConfigElementOps({
    db,
    encryptor,
    clock,
    ownerType: "stack",
    addLabel: "stackConfigAdd config",
    readable,
    writable,
  });

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

  /**
   * The layers of a stack's environment: its own elements, its explicitly attached
   * contexts, and the contexts that auto-attach to it. Only contexts of the spaces the
   * stack may use count (its own, and the ancestors it inherits from; see
   * `access.usableSpaces`): an attachment made before a space moved or stopped
   * inheriting is ignored rather than leaking another space's values into runs.
   */
  async function environmentLayers(stack: Stack) {
    const lineage = await access.usableSpaces(stack.spaceId);
    const [allAttachments, candidates, stackRows] = await Promise.all([
      contexts.attachmentsOfStack(db, stack.id),
      contexts.findAutoattachCandidates(db, lineage),
      config.listConfigRows(db, { type: "stack", id: stack.id }),
    ]);
    const attachedContexts = (
      await contexts.findContexts(
        db,
        allAttachments.map((a) => a.contextId),
      )
    ).filter((c) => lineage.includes(c.spaceId));
    const byId = new Map<string, Context>(
      attachedContexts.map((c) => [c.id, c]),
    );
    const attachments = allAttachments.filter((a) => byId.has(a.contextId));
    const attachedIds = new Set(attachments.map((a) => a.contextId));
    const auto = candidates
      .filter(
        (c) =>
          !attachedIds.has(c.id) &&
          autoAttaches(c, { labels: stack.labels, spaceLineage: lineage }),
      )
      .sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1,
      );
    const contextRows = await config.listConfigRowsOfContexts(db, [
      ...attachedIds,
      ...auto.map((c) => c.id),
    ]);
    const rowsOf = (contextId: string) =>
      contextRows.filter((r) => r.owner_id === contextId);
    return {
      stackRows,
      attached: attachments.map((a) => ({
        attachment: a,
        context: byId.get(a.contextId),
        rows: rowsOf(a.contextId),
      })),
      autoAttached: auto.map((c) => ({
        context: c,
        attachment: autoAttachment(c, stack),
        rows: rowsOf(c.id),
      })),
    };
  }

  /** The ids of the layers' contexts whose space the caller can read. */
  async function readableLayers(
    session: Session,
    layers: Awaited<ReturnType<typeof environmentLayers>>,
  ): Promise<Set<string>> {
    const spaceOf = new Map<string, string>();
    for (const a of layers.attached)
      if (a.context) spaceOf.set(a.context.id, a.context.spaceId);
    for (const a of layers.autoAttached)
      spaceOf.set(a.context.id, a.context.spaceId);
    const levels = new Map<string, AccessLevel>();
    const shown = new Set<string>();
    for (const [contextId, spaceId] of spaceOf) {
      let level = levels.get(spaceId);
      if (level === undefined) {
        level = await access.accessLevel(session, spaceId);
        levels.set(spaceId, level);
      }
      if (level !== "NONE") shown.add(contextId);
    }
    return shown;
  }

  function autoAttachment(context: Context, stack: Stack): ContextAttachment {
    return {
      id: `${context.id}/autoattach/${stack.id}`,
      contextId: context.id,
      contextName: context.name,
      stackId: stack.id,
      stackName: stack.name,
      priority: 0,
      isAutoattached: true,
    };
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

    async lockStack(
      session: Session,
      id: string,
      note?: string | null,
    ): Promise<StackView> {
      await writable(session, id);
      const holder = lockHolder(session);
      const locked = await stacks.takeLock(
        db,
        id,
        holder,
        note?.trim() ? note : null,
        clock(),
      );
      if (!locked) {
        const current = await stacks.findStack(db, id);
        if (!current) throw new StackNotFoundError(id);
        throw new StackLockedError(id, current.lockedBy ?? "someone else");
      }
      return view(id);
    },

    /** Unlocks; only the holder, or an admin (session or space ADMIN), may. */
    async unlockStack(session: Session, id: string): Promise<StackView> {
      const { stack, level } = await writable(session, id);
      if (!stack.lockedBy) throw new StackNotLockedError(id);
      const holder = lockHolder(session);
      const isAdmin = session.admin || level === "ADMIN";
      if (stack.lockedBy !== holder && !isAdmin) {
        throw new AccessDeniedError(
          `stack ${id} is locked by ${stack.lockedBy}; only they or an admin can unlock it`,
        );
      }
      const released = await stacks.releaseLock(
        db,
        id,
        isAdmin ? null : holder,
        clock(),
      );
      if (!released) throw new StackNotLockedError(id);
      return view(id);
    },

    // ---- Locks taken by the system (VCS push policy `lock` / `unlock`). No session: the
    // caller acts for an event already accepted for the stack. The holder is the lock id
    // as given, like a user lock's holder name, so that user may unlock it.

    /** Locks for `holder` unless another holder has it (atomic; relocking keeps it). */
    async lockForSystem(
      id: string,
      holder: string,
      note: string,
    ): Promise<{ locked: boolean; lockedBy: string | null }> {
      const locked = await stacks.takeLock(db, id, holder, note, clock());
      if (locked) return { locked: true, lockedBy: holder };
      const current = await stacks.findStack(db, id);
      if (!current) throw new StackNotFoundError(id);
      return { locked: false, lockedBy: current.lockedBy };
    },

    /** Unlocks only if `holder` holds the lock (atomic); false otherwise. */
    async unlockForSystem(id: string, holder: string): Promise<boolean> {
      return (await stacks.releaseLock(db, id, holder, clock())) !== null;
    },

    async enableStack(session: Session, id: string): Promise<StackView> {
      await writable(session, id);
      await stacks.setDisabled(db, id, false, clock());
      return view(id);
    },

    async disableStack(session: Session, id: string): Promise<StackView> {
      await writable(session, id);
      await stacks.setDisabled(db, id, true, clock());
      return view(id);
    },

    /** Sets the tracked commit (the sha new tracked runs use). */
    async setCurrentCommit(
      session: Session,
      id: string,
      sha: string,
    ): Promise<StackView> {
      const trimmed = sha.trim();
      if (!SHA_PATTERN.test(trimmed)) {
        throw new ValidationError(
          "stackSetCurrentCommit sha: must be a hexadecimal git commit sha",
        );
      }
      await writable(session, id);
      await stacks.setTrackedCommit(db, id, {
        sha: trimmed.toLowerCase(),
        setBy: lockHolder(session),
        at: clock(),
      });
      return view(id);
    },

    /** Sets the tracked commit to the head of the stack's branch (`stackSyncCommit`). */
    async syncCommit(session: Session, id: string): Promise<StackView> {
      const { stack } = await writable(session, id);
      if (!deps.branchHeads)
        throw new NotImplementedError(
          "stackSyncCommit is not supported by this server: it has no VCS module",
        );
      const sha = await deps.branchHeads.headOf(stack);
      if (!sha) throw new StackBranchNotFoundError(id, stack.branch);
      await stacks.setTrackedCommit(db, id, {
        sha,
        setBy: lockHolder(session),
        at: clock(),
      });
      return view(id);
    },

    addStackConfig: configOps.add,
    deleteStackConfig: configOps.delete,
    listStackConfig: configOps.list,
    getStackConfigElement: configOps.get,

    /**
     * Explicit attachments by priority, then auto-attached contexts alphabetically. The
     * elements of a context in a space the caller cannot read are left out (a reader of
     * a child space sees that a parent's context applies, not its values).
     */
    async attachedContexts(
      session: Session,
      stackId: string,
    ): Promise<StackContextAttachmentView[]> {
      const stack = await readable(session, stackId);
      const layers = await environmentLayers(stack);
      const shown = await readableLayers(session, layers);
      const elementsOf = (
        contextId: string,
        rows: config.ConfigElementRow[],
      ) => (shown.has(contextId) ? rows.map(presentElement) : []);
      return [
        ...layers.attached.map((a) => ({
          ...a.attachment,
          config: elementsOf(a.attachment.contextId, a.rows),
        })),
        ...layers.autoAttached.map((a) => ({
          ...a.attachment,
          config: elementsOf(a.context.id, a.rows),
        })),
      ];
    },

    /**
     * The effective environment as `spacectl stack environment list` shows it: the
     * winning elements of the stack and its explicitly attached contexts, secrets
     * masked. Elements won by auto-attached contexts are left out: spacectl appends
     * those itself from `attachedContexts` (graphql-compat §2.6).
     */
    async runtimeConfig(
      session: Session,
      stackId: string,
    ): Promise<RuntimeConfigEntry[]> {
      const stack = await readable(session, stackId);
      const layers = await environmentLayers(stack);
      // Elements of contexts the caller cannot read: neither shown nor winning.
      const shown = await readableLayers(session, layers);
      layers.attached = layers.attached.filter((a) =>
        shown.has(a.attachment.contextId),
      );
      layers.autoAttached = layers.autoAttached.filter((a) =>
        shown.has(a.context.id),
      );
      const attachmentOf = new Map<string, StackContextAttachmentView>(
        layers.attached.map((a) => [
          `context:${a.attachment.contextId}`,
          { ...a.attachment, config: a.rows.map(presentElement) },
        ]),
      );
      const resolved = resolveEffectiveConfig({
        stack: layers.stackRows.map(presentElement),
        attached: layers.attached.map((a) => ({
          contextId: a.attachment.contextId,
          priority: a.attachment.priority,
          elements: a.rows.map(presentElement),
        })),
        autoAttached: layers.autoAttached.map((a) => ({
          contextId: a.context.id,
          contextName: a.context.name,
          elements: a.rows.map(presentElement),
        })),
      });
      return resolved
        .filter((el) => el.source === "stack" || attachmentOf.has(el.source))
        .map(({ source, ...element }) => ({
          context: attachmentOf.get(source) ?? null,
          element,
        }));
    },

    /**
     * The environment a run of the stack gets, values decrypted, per the precedence in
     * stack-environment.ts. `runtime` holds `environment` from `.spacelift/config.yml`.
     * For the run engine only: secrets leave the module here.
     */
    async effectiveConfig(
      stackId: string,
      runtime: Record<string, string> = {},
    ): Promise<EffectiveConfigElement[]> {
      const stack = await stacks.findStack(db, stackId);
      if (!stack) throw new StackNotFoundError(stackId);
      const layers = await environmentLayers(stack);
      const decrypt = (rows: config.ConfigElementRow[]) =>
        rows.map((r) => decryptElement(r, encryptor));
      return resolveEffectiveConfig({
        runtime: Object.entries(runtime).map(([id, value]) => ({
          id,
          type: "ENVIRONMENT_VARIABLE" as const,
          value,
          writeOnly: false,
          checksum: checksumOf(value),
        })),
        stack: decrypt(layers.stackRows),
        attached: layers.attached.map((a) => ({
          contextId: a.attachment.contextId,
          priority: a.attachment.priority,
          elements: decrypt(a.rows),
        })),
        autoAttached: layers.autoAttached.map((a) => ({
          contextId: a.context.id,
          contextName: a.context.name,
          elements: decrypt(a.rows),
        })),
      });
    },

    /** The merged hook lists for a run of the stack (order: stack-environment.ts). */
    async effectiveHooks(stackId: string): Promise<HookLists> {
      const stack = await stacks.findStack(db, stackId);
      if (!stack) throw new StackNotFoundError(stackId);
      const layers = await environmentLayers(stack);
      return effectiveHooks({
        stack: stack.hooks,
        attached: layers.attached.flatMap((a) =>
          a.context
            ? [
                {
                  contextId: a.context.id,
                  priority: a.attachment.priority,
                  hooks: a.context.hooks,
                },
              ]
            : [],
        ),
        autoAttached: layers.autoAttached.map((a) => ({
          contextId: a.context.id,
          contextName: a.context.name,
          hooks: a.context.hooks,
        })),
      });
    },
  };
}

export type StackService = ReturnType<typeof createStackService>;
