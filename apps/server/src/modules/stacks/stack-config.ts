import type { Session } from "../auth/index.ts";
import type {
  AccessLevel,
  ConfigElement,
  Context,
  ContextAttachment,
  HookLists,
  Stack,
} from "./stack.ts";
import { StackNotFoundError } from "./stack-errors.ts";
import {
  autoAttaches,
  effectiveHooks,
  resolveEffectiveConfig,
  type ConfigSourceLabel,
} from "./stack-environment.ts";
import * as stacks from "./stack-repo.ts";
import * as contexts from "./context-repo.ts";
import * as config from "./config-element-repo.ts";
import {
  checksumOf,
  createConfigElementOps,
  decryptElement,
  presentElement,
  type DecryptedElement,
} from "./config-element.ts";
import type { StackGuards } from "./stack-guards.ts";

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

/**
 * A stack's environment: its own config elements, the contexts attached to it (and those
 * that auto-attach), and the effective environment and hooks a run gets.
 * `effectiveConfig` and `effectiveHooks` take no Session: they are for the run engine.
 */
export function createStackConfig(guards: StackGuards) {
  const { db, encryptor, clock, access, readable, writable } = guards;

  const configOps = createConfigElementOps({
    db,
    encryptor,
    clock,
    ownerType: "stack",
    addLabel: "stackConfigAdd config",
    readable,
    writable,
  });

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

  return {
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
