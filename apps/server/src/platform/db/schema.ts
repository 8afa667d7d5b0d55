import type { ColumnType, Generated } from "kysely";

/**
 * Table types for Kysely, kept beside the SQL migrations that define them. A column
 * added in a migration is added here in the same change.
 */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string | T | undefined, string | T>;

export interface SystemSettingsTable {
  key: string;
  value: Json;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EncryptionKeysTable {
  id: string;
  type: "rsa" | "kms";
  wrapped_key: Buffer;
  active: Generated<boolean>;
  created_at: Timestamp;
}

export interface SpacesTable {
  id: string;
  name: string;
  description: Generated<string>;
  parent_space_id: string | null;
  inherit_entities: Generated<boolean>;
  labels: Generated<string[]>;
  created_at: Timestamp;
}

export interface UsersTable {
  id: string;
  username: string;
  name: string;
  is_admin: Generated<boolean>;
  created_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  secret_hash: string;
  is_admin: Generated<boolean>;
  space_id: string;
  created_by: string | null;
  created_at: Timestamp;
  last_used_at: Date | null;
  deleted_at: Date | null;
}

export interface WorkerPoolsTable {
  id: string;
  name: string;
  description: Generated<string>;
  space_id: string;
  labels: Generated<string[]>;
  token_hash: string;
  public_key: string | null;
  is_default: Generated<boolean>;
  created_at: Timestamp;
}

export type WorkerStatus = "IDLE" | "BUSY" | "DRAINED" | "GONE";

export interface WorkersTable {
  id: string;
  worker_pool_id: string;
  status: WorkerStatus;
  drained: Generated<boolean>;
  metadata: Json<Record<string, string>>;
  version: Generated<string>;
  registered_at: Timestamp;
  last_heartbeat_at: Timestamp;
  gone_at: Date | null;
  gone_reason: string | null;
}

export interface DB {
  system_settings: SystemSettingsTable;
  encryption_keys: EncryptionKeysTable;
  spaces: SpacesTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  worker_pools: WorkerPoolsTable;
  workers: WorkersTable;
}
