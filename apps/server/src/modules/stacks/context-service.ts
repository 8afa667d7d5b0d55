import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import { ConflictError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import {
  nextFreeSlug,
  slugify,
  type Context,
  type ContextAttachment,
} from "./stack.ts";
import {
  ContextAlreadyAttachedError,
  ContextAttachmentNotFoundError,
  ContextNotFoundError,
  OutOfSpaceReachError,
  SpaceNotFoundError,
  StackNotFoundError,
} from "./stack-errors.ts";
import {
  contextInputSchema,
  parseInput,
  type ContextInput,
} from "./stack-inputs.ts";
import type { SpaceAccess } from "./space-access.ts";
import * as contexts from "./context-repo.ts";
import * as config from "./config-element-repo.ts";
import { findStack } from "./stack-repo.ts";
import { slugsInUse } from "./stack-queries.ts";
import { findSpace } from "./space-repo.ts";
import { createConfigElementOps } from "./config-element.ts";

export interface ContextServiceDeps {
  db: Database;
  encryptor: Pick<Encryptor, "encrypt">;
  clock: () => Date;
  access: SpaceAccess;
  newAttachmentId?: () => string;
}

/**
 * Contexts (shared environment and hooks), their attachments to stacks and their
 * environment variables and mounted files. A context the caller cannot read is
 * reported as not found. Attaching needs WRITE on the stack's space, READ on the
 * context's, and the context in a space the stack may use (its own, or an ancestor it
 * inherits from: `access.usableSpaces`); detaching needs WRITE on the stack's space.
 */
export function createContextService(deps: ContextServiceDeps) {
  const { db, encryptor, clock, access } = deps;
  const newAttachmentId =
    deps.newAttachmentId ?? (() => `ctxatt_${ulid().toLowerCase()}`);

  async function readable(session: Session, id: string): Promise<Context> {
    const context = await contexts.findContext(db, id);
    if (!context) throw new ContextNotFoundError(id);
    await access.assertCanRead(
      session,
      context.spaceId,
      new ContextNotFoundError(id),
    );
    return context;
  }

  async function writable(session: Session, id: string): Promise<Context> {
    const context = await contexts.findContext(db, id);
    if (!context) throw new ContextNotFoundError(id);
    await access.assertCanWrite(
      session,
      context.spaceId,
      new ContextNotFoundError(id),
    );
    return context;
  }

  const configOps = createConfigElementOps({
    db,
    encryptor,
    clock,
    ownerType: "context",
    addLabel: "contextConfigAdd config",
    readable,
    writable,
  });

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

  /** The attachment if the caller can read both its stack and its context. */
  async function visibleAttachment(session: Session, id: string) {
    const attachment = await contexts.findAttachment(db, id);
    if (!attachment) throw new ContextAttachmentNotFoundError(id);
    const [stack, context] = await Promise.all([
      findStack(db, attachment.stackId),
      contexts.findContext(db, attachment.contextId),
    ]);
    if (!stack || !context) throw new ContextAttachmentNotFoundError(id);
    await access.assertCanRead(
      session,
      context.spaceId,
      new ContextAttachmentNotFoundError(id),
    );
    await access.assertCanRead(
      session,
      stack.spaceId,
      new ContextAttachmentNotFoundError(id),
    );
    return { attachment, stack };
  }

  return {
    getContext: readable,

    async findContext(session: Session, id: string): Promise<Context | null> {
      const context = await contexts.findContext(db, id);
      if (
        !context ||
        (await access.accessLevel(session, context.spaceId)) === "NONE"
      )
        return null;
      return context;
    },

    /** The contexts the caller can read, by name (Stackyard extension for the web UI). */
    async listContexts(session: Session): Promise<Context[]> {
      const all = await contexts.listAllContexts(db);
      const levels = new Map<string, string>();
      const visible: Context[] = [];
      for (const c of all) {
        let level = levels.get(c.spaceId);
        if (level === undefined) {
          level = await access.accessLevel(session, c.spaceId);
          levels.set(c.spaceId, level);
        }
        if (level !== "NONE") visible.push(c);
      }
      return visible;
    },

    /** Creates a context; its id is the slug of its name, made unique with `-<n>`. */
    async createContext(
      session: Session,
      input: ContextInput,
    ): Promise<Context> {
      const settings = parseInput(
        contextInputSchema,
        input,
        "contextCreateV2 input",
      );
      const spaceId = settings.spaceId ?? (await access.homeSpace(session));
      await requireTargetSpace(session, spaceId);
      const slug = slugify(settings.name, "context");
      const now = clock();
      // Losing the race for an id to a concurrent creator just means choosing again.
      for (let attempt = 0; attempt < 5; attempt++) {
        const id = nextFreeSlug(slug, await slugsInUse(db, "contexts", slug));
        const created = await contexts.insertContextIfAbsent(db, {
          id,
          settings: { ...settings, spaceId },
          now,
        });
        if (created) return created;
      }
      throw new ConflictError(
        `could not allocate an id for context "${slug}"; try again`,
      );
    },

    /** Replaces every field; a null `space` keeps the current one. */
    async updateContext(
      session: Session,
      id: string,
      input: ContextInput,
    ): Promise<Context> {
      const settings = parseInput(
        contextInputSchema,
        input,
        "contextUpdateV2 input",
      );
      const current = await writable(session, id);
      const spaceId = settings.spaceId ?? current.spaceId;
      if (spaceId !== current.spaceId)
        await requireTargetSpace(session, spaceId);
      const updated = await contexts.updateContextRow(
        db,
        id,
        { ...settings, spaceId },
        clock(),
      );
      if (!updated) throw new ContextNotFoundError(id);
      return updated;
    },

    /** Deletes the context, its attachments (FK cascade) and its elements; returns it as it was. */
    async deleteContext(session: Session, id: string): Promise<Context> {
      const context = await writable(session, id);
      await db.transaction().execute(async (tx) => {
        await config.deleteConfigRowsOf(tx, { type: "context", id });
        if (!(await contexts.deleteContextRow(tx, id)))
          throw new ContextNotFoundError(id);
      });
      return context;
    },

    /** Attaches a context to a stack with a priority (lower wins; see stack-environment.ts). */
    async attachContext(
      session: Session,
      contextId: string,
      stackId: string,
      priority: number,
    ): Promise<ContextAttachment> {
      if (!Number.isInteger(priority) || priority < 0) {
        throw new ValidationError(
          "contextAttach priority: must be a non-negative integer",
        );
      }
      const context = await readable(session, contextId);
      const stack = await findStack(db, stackId);
      if (!stack) throw new StackNotFoundError(stackId);
      await access.assertCanWrite(
        session,
        stack.spaceId,
        new StackNotFoundError(stackId),
      );
      if (!(await access.usableSpaces(stack.spaceId)).includes(context.spaceId))
        throw new OutOfSpaceReachError(
          "contextAttach id",
          `context ${context.id}`,
          context.spaceId,
          stack.spaceId,
        );
      const inserted = await contexts.insertAttachmentIfAbsent(db, {
        id: newAttachmentId(),
        contextId: context.id,
        stackId,
        priority,
        now: clock(),
      });
      if (!inserted) throw new ContextAlreadyAttachedError(contextId, stackId);
      const attachment = await contexts.findAttachmentOf(
        db,
        contextId,
        stackId,
      );
      if (!attachment)
        throw new ContextAttachmentNotFoundError(`${contextId}/${stackId}`);
      return attachment;
    },

    /** Detaches by attachment id; returns the attachment as it was. */
    async detachContext(
      session: Session,
      attachmentId: string,
    ): Promise<ContextAttachment> {
      const { attachment, stack } = await visibleAttachment(
        session,
        attachmentId,
      );
      await access.assertCanWrite(
        session,
        stack.spaceId,
        new ContextAttachmentNotFoundError(attachmentId),
      );
      if (!(await contexts.deleteAttachmentRow(db, attachmentId))) {
        throw new ContextAttachmentNotFoundError(attachmentId);
      }
      return attachment;
    },

    /** The explicit attachment of a context to a stack, or null (also when the stack is hidden). */
    async attachmentOf(
      session: Session,
      contextId: string,
      stackId: string,
    ): Promise<ContextAttachment | null> {
      await readable(session, contextId);
      const attachment = await contexts.findAttachmentOf(
        db,
        contextId,
        stackId,
      );
      if (!attachment) return null;
      const stack = await findStack(db, stackId);
      if (
        !stack ||
        (await access.accessLevel(session, stack.spaceId)) === "NONE"
      )
        return null;
      return attachment;
    },

    addContextConfig: configOps.add,
    deleteContextConfig: configOps.delete,
    listContextConfig: configOps.list,
    getContextConfigElement: configOps.get,
  };
}

export type ContextService = ReturnType<typeof createContextService>;
