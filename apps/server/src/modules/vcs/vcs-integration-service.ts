import { monotonicFactory } from "ulid";
import { parseInput } from "../../platform/validation.ts";
import type { Database } from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import type { AppError } from "../../platform/errors.ts";
import { ValidationError } from "../../platform/errors.ts";
import { EgressDeniedError } from "../../platform/http/egress.ts";
import type { EgressGuard } from "../../platform/http/egress.ts";
import type { Session } from "../auth/index.ts";
import { ROOT_SPACE_ID } from "../stacks/index.ts";
import type { VcsProviderKind } from "./provider.ts";
import {
  integrationCreateSchema,
  integrationKindOfStackProvider,
  integrationUpdateSchema,
  mergeSettings,
  webhookUrlOf,
  type IntegrationCreateInput,
  type IntegrationUpdateInput,
  type VcsIntegrationRecord,
  type VcsIntegrationView,
} from "./vcs-integration.ts";
import * as repo from "./vcs-integration-repo.ts";
import {
  VcsIntegrationConflictError,
  VcsIntegrationNotFoundError,
} from "./vcs-errors.ts";

/** The slice of the stacks module's SpaceAccess this module needs (injected). */
export interface VcsSpaceAccess {
  assertCanRead(
    session: Session,
    spaceId: string,
    whenHidden?: AppError,
  ): Promise<unknown>;
  assertCanAdmin(
    session: Session,
    spaceId: string,
    whenHidden?: AppError,
  ): Promise<unknown>;
  visibleSpaces(session: Session): Promise<readonly string[] | "all">;
  homeSpace(session: Session): Promise<string>;
}

export interface VcsIntegrationServiceDeps {
  db: Database;
  encryptor: Pick<Encryptor, "encrypt" | "decrypt">;
  access: VcsSpaceAccess;
  clock: () => Date;
  /** Base of webhook URLs (config `webhooks_endpoint`). */
  webhooksEndpoint: string;
  /** Refuses an `apiUrl` the server may not call (loopback, link-local, metadata). */
  egress: Pick<EgressGuard, "checkUrl" | "resolveHost">;
  newId?: (provider: VcsProviderKind) => string;
}

const PREFIX: Record<VcsProviderKind, string> = {
  GITHUB: "vcs_github_",
  GITLAB: "vcs_gitlab_",
  RAW_GIT: "vcs_rawgit_",
};

/** Postgres unique violations name their constraint; map ours to clear conflicts. */
function conflictOf(err: unknown, name: string, provider: string): never {
  const e = err as { code?: string; constraint?: string };
  if (e.code === "23505" && e.constraint === "vcs_integrations_one_default")
    throw new VcsIntegrationConflictError(
      `there is already a default ${provider} integration; unset isDefault on it first (one default per provider)`,
    );
  if (e.code === "23505" && e.constraint === "vcs_integrations_name_key")
    throw new VcsIntegrationConflictError(
      `an integration named ${name} already exists (names are unique: they form the webhook URL)`,
    );
  if (e.code === "23503")
    throw new ValidationError(
      "the space does not exist; pass the id of an existing space",
    );
  throw err;
}

/**
 * The default integration of a provider serves stacks of every space (those naming no
 * integration), so only the root space may hold it: a space admin must not be able to
 * put their own integration, and its token, in front of every other space's stacks.
 */
function requireRootForDefault(
  label: string,
  isDefault: boolean,
  spaceId: string,
): void {
  if (isDefault && spaceId !== ROOT_SPACE_ID)
    throw new ValidationError(
      `${label}.isDefault: a default integration serves every space, so it must live in the root space (this one is in ${spaceId}); set isDefault to false or use space root`,
    );
}

/**
 * VCS integrations: create, update, delete and list (ADMIN on the integration's space to
 * write, READ to see), and the lookups the webhook ingress, the push pipeline and the
 * feedback jobs make (no session; decrypted settings for adapters only).
 * The name is immutable because it forms the webhook URL; secrets are write-only (an
 * update without them keeps the stored ones). One default per provider is enforced by a
 * partial unique index.
 */
export function createVcsIntegrationService(deps: VcsIntegrationServiceDeps) {
  const { db, encryptor, access, clock } = deps;
  const ulid = monotonicFactory();
  const newId =
    deps.newId ??
    ((provider: VcsProviderKind) =>
      `${PREFIX[provider]}${ulid().toLowerCase()}`);

  function view(row: repo.IntegrationRow): VcsIntegrationView {
    const { settings, secrets } = repo.storedParts(row, encryptor);
    return {
      id: row.id,
      name: row.name,
      provider: row.provider,
      spaceId: row.space_id,
      isDefault: row.is_default,
      labels: row.labels,
      description: row.description,
      checks: row.checks,
      apiUrl: settings.apiUrl ?? null,
      gitUrl: settings.gitUrl ?? null,
      appId: settings.appId ?? null,
      hasWebhookSecret: Boolean(secrets.webhookSecret),
      hasCredentials: Boolean(secrets.privateKeyPem || secrets.token),
      webhookUrl:
        row.provider === "RAW_GIT"
          ? null
          : webhookUrlOf(deps.webhooksEndpoint, row.name),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** A new `apiUrl` must be one the egress guard lets the server call. */
  async function checkApiUrl(label: string, apiUrl: string | null) {
    if (apiUrl === null) return;
    await deps.egress.checkUrl(apiUrl).catch((err: unknown) => {
      if (err instanceof EgressDeniedError)
        throw new ValidationError(`${label}.apiUrl: ${err.message}`);
      throw err;
    });
  }

  async function administrable(session: Session, id: string) {
    const row = await repo.findIntegrationRow(db, { id });
    const hidden = new VcsIntegrationNotFoundError(
      `VCS integration ${id} not found`,
    );
    if (!row) throw hidden;
    await access.assertCanAdmin(session, row.space_id, hidden);
    return row;
  }

  return {
    async create(
      session: Session,
      raw: IntegrationCreateInput,
    ): Promise<VcsIntegrationView> {
      const input = parseInput(
        integrationCreateSchema,
        raw,
        "stackyardVcsIntegrationCreate input",
      );
      const spaceId = input.space ?? (await access.homeSpace(session));
      await access.assertCanAdmin(session, spaceId);
      requireRootForDefault(
        "stackyardVcsIntegrationCreate input",
        input.isDefault ?? false,
        spaceId,
      );
      const merged = mergeSettings(
        "stackyardVcsIntegrationCreate input",
        input.provider,
        input,
        { settings: {}, secrets: {} },
      );
      await checkApiUrl("stackyardVcsIntegrationCreate input", input.apiUrl);
      const row = await repo
        .insertIntegration(
          db,
          encryptor,
          {
            id: newId(input.provider),
            name: input.name,
            provider: input.provider,
            now: clock(),
          },
          {
            spaceId,
            isDefault: input.isDefault ?? false,
            labels: input.labels,
            description: input.description,
            checks: input.checks ?? "INDIVIDUAL",
            ...merged,
          },
        )
        .catch((err: unknown) => conflictOf(err, input.name, input.provider));
      return view(row);
    },

    async update(
      session: Session,
      id: string,
      raw: IntegrationUpdateInput,
    ): Promise<VcsIntegrationView> {
      const input = parseInput(
        integrationUpdateSchema,
        raw,
        "stackyardVcsIntegrationUpdate input",
      );
      const row = await administrable(session, id);
      const spaceId = input.space ?? row.space_id;
      if (spaceId !== row.space_id)
        await access.assertCanAdmin(session, spaceId);
      requireRootForDefault(
        "stackyardVcsIntegrationUpdate input",
        input.isDefault ?? row.is_default,
        spaceId,
      );
      const merged = mergeSettings(
        "stackyardVcsIntegrationUpdate input",
        row.provider,
        input,
        repo.storedParts(row, encryptor),
      );
      await checkApiUrl("stackyardVcsIntegrationUpdate input", input.apiUrl);
      const updated = await repo
        .updateIntegration(db, encryptor, id, clock(), {
          spaceId,
          isDefault: input.isDefault ?? row.is_default,
          labels: raw.labels === undefined ? row.labels : input.labels,
          description:
            raw.description === undefined ? row.description : input.description,
          checks: input.checks ?? row.checks,
          ...merged,
        })
        .catch((err: unknown) => conflictOf(err, row.name, row.provider));
      return view(updated);
    },

    /** Refused while stacks name the integration (they would lose their VCS). */
    async delete(session: Session, id: string): Promise<VcsIntegrationView> {
      const row = await administrable(session, id);
      const n = await repo.countStacksUsing(db, id);
      if (n > 0)
        throw new VcsIntegrationConflictError(
          `VCS integration ${row.name} is used by ${n} stack(s); point them at another integration first`,
        );
      await repo.deleteIntegration(db, id);
      return view(row);
    },

    async list(session: Session): Promise<VcsIntegrationView[]> {
      const spaces = await access.visibleSpaces(session);
      return (await repo.listIntegrationRows(db, spaces)).map(view);
    },

    async get(
      session: Session,
      id: string,
    ): Promise<VcsIntegrationView | null> {
      const row = await repo.findIntegrationRow(db, { id });
      if (!row) return null;
      try {
        await access.assertCanRead(session, row.space_id);
      } catch {
        return null;
      }
      return view(row);
    },

    /** For the webhook ingress: by the name in the URL, secrets decrypted. */
    async loadByName(name: string): Promise<VcsIntegrationRecord | null> {
      const row = await repo.findIntegrationRow(db, { name });
      return row ? repo.toRecord(row, encryptor) : null;
    },

    async loadById(id: string): Promise<VcsIntegrationRecord | null> {
      const row = await repo.findIntegrationRow(db, { id });
      return row ? repo.toRecord(row, encryptor) : null;
    },

    async loadDefault(
      provider: VcsProviderKind,
    ): Promise<VcsIntegrationRecord | null> {
      const row = await repo.findDefaultIntegrationRow(db, provider);
      return row ? repo.toRecord(row, encryptor) : null;
    },

    /**
     * The space of the integration with this id, null when there is none (the stacks
     * module checks a stack's `vcsIntegrationId` is in a space the stack may use).
     */
    async spaceOf(id: string): Promise<string | null> {
      return (await repo.findIntegrationRow(db, { id }))?.space_id ?? null;
    },

    /**
     * The integration a stack uses, as `Stack.vcsIntegration` shows it: the one it names,
     * else (GitHub and GitLab stacks) its provider's default; null when there is none.
     * Ids and the default flag only, nothing decrypted.
     */
    async usedByStack(stack: {
      provider: string;
      vcsIntegrationId: string | null;
    }): Promise<{ id: string; isDefault: boolean } | null> {
      const kind = integrationKindOfStackProvider(stack.provider);
      const row = stack.vcsIntegrationId
        ? await repo.findIntegrationRow(db, { id: stack.vcsIntegrationId })
        : kind === "GITHUB" || kind === "GITLAB"
          ? await repo.findDefaultIntegrationRow(db, kind)
          : null;
      return row ? { id: row.id, isDefault: row.is_default } : null;
    },
  };
}

export type VcsIntegrationService = ReturnType<
  typeof createVcsIntegrationService
>;
