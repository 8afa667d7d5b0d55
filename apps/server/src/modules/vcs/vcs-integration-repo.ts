import type { Selectable } from "kysely";
import type {
  Database,
  VcsIntegrationsTable,
} from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import type { VcsProviderKind } from "./provider.ts";
import {
  providerSettings,
  type StoredSecrets,
  type StoredSettings,
  type VcsChecksMode,
  type VcsIntegrationRecord,
} from "./vcs-integration.ts";

/**
 * The only writer of `vcs_integrations`. Secret settings are stored as one encrypted JSON
 * document (the instance encryptor, as stack secrets are) and decrypted only into a
 * VcsIntegrationRecord, which goes to adapters and never to the API.
 */

export type IntegrationRow = Selectable<VcsIntegrationsTable>;

export function storedParts(
  row: IntegrationRow,
  encryptor: Pick<Encryptor, "decrypt">,
): { settings: StoredSettings; secrets: StoredSecrets } {
  const settings = (row.settings ?? {}) as StoredSettings;
  const secrets = row.secrets_encrypted
    ? (JSON.parse(
        encryptor.decrypt(row.secrets_encrypted).toString("utf8"),
      ) as StoredSecrets)
    : {};
  return { settings, secrets };
}

export function toRecord(
  row: IntegrationRow,
  encryptor: Pick<Encryptor, "decrypt">,
): VcsIntegrationRecord {
  const { settings, secrets } = storedParts(row, encryptor);
  return {
    id: row.id,
    name: row.name,
    provider: row.provider,
    spaceId: row.space_id,
    isDefault: row.is_default,
    labels: row.labels,
    description: row.description,
    checks: row.checks,
    settings: providerSettings(row.provider, settings, secrets),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findIntegrationRow(
  db: Database,
  by: { id: string } | { name: string },
): Promise<IntegrationRow | null> {
  let q = db.selectFrom("vcs_integrations").selectAll();
  q = "id" in by ? q.where("id", "=", by.id) : q.where("name", "=", by.name);
  return (await q.executeTakeFirst()) ?? null;
}

export async function findDefaultIntegrationRow(
  db: Database,
  provider: VcsProviderKind,
): Promise<IntegrationRow | null> {
  return (
    (await db
      .selectFrom("vcs_integrations")
      .selectAll()
      .where("provider", "=", provider)
      .where("is_default", "=", true)
      .executeTakeFirst()) ?? null
  );
}

export async function listIntegrationRows(
  db: Database,
  spaceIds: readonly string[] | "all",
): Promise<IntegrationRow[]> {
  if (spaceIds !== "all" && spaceIds.length === 0) return [];
  let q = db.selectFrom("vcs_integrations").selectAll();
  if (spaceIds !== "all") q = q.where("space_id", "in", spaceIds);
  return q.orderBy("name").execute();
}

export interface IntegrationWrite {
  spaceId: string;
  isDefault: boolean;
  labels: string[];
  description: string | null;
  checks: VcsChecksMode;
  settings: StoredSettings;
  secrets: StoredSecrets;
}

function secretsColumn(
  secrets: StoredSecrets,
  encryptor: Pick<Encryptor, "encrypt">,
): string | null {
  return Object.keys(secrets).some(
    (k) => secrets[k as keyof StoredSecrets] !== undefined,
  )
    ? encryptor.encrypt(JSON.stringify(secrets))
    : null;
}

export async function insertIntegration(
  db: Database,
  encryptor: Pick<Encryptor, "encrypt">,
  row: { id: string; name: string; provider: VcsProviderKind; now: Date },
  w: IntegrationWrite,
): Promise<IntegrationRow> {
  return db
    .insertInto("vcs_integrations")
    .values({
      id: row.id,
      name: row.name,
      provider: row.provider,
      space_id: w.spaceId,
      is_default: w.isDefault,
      labels: w.labels,
      description: w.description,
      checks: w.checks,
      settings: JSON.stringify(w.settings),
      secrets_encrypted: secretsColumn(w.secrets, encryptor),
      created_at: row.now,
      updated_at: row.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateIntegration(
  db: Database,
  encryptor: Pick<Encryptor, "encrypt">,
  id: string,
  now: Date,
  w: IntegrationWrite,
): Promise<IntegrationRow> {
  return db
    .updateTable("vcs_integrations")
    .set({
      space_id: w.spaceId,
      is_default: w.isDefault,
      labels: w.labels,
      description: w.description,
      checks: w.checks,
      settings: JSON.stringify(w.settings),
      secrets_encrypted: secretsColumn(w.secrets, encryptor),
      updated_at: now,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteIntegration(
  db: Database,
  id: string,
): Promise<void> {
  await db.deleteFrom("vcs_integrations").where("id", "=", id).execute();
}

/** Stacks that name the integration: deleting it would strand them. */
export async function countStacksUsing(
  db: Database,
  integrationId: string,
): Promise<number> {
  const row = await db
    .selectFrom("stacks")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("vcs_integration_id", "=", integrationId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
