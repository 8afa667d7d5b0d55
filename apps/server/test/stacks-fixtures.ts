import { randomBytes } from "node:crypto";
import { ulid } from "ulid";
import type { Database } from "../src/platform/db/index.ts";
import {
  createAesEncryptor,
  type Encryptor,
} from "../src/platform/crypto/index.ts";
import type { Session } from "../src/modules/auth/index.ts";
import { hashSecret } from "../src/modules/auth/index.ts";
import type { StackInput } from "../src/modules/stacks/index.ts";

/** The break-glass admin, as the auth module builds it. */
export const ADMIN: Session = {
  kind: "user",
  id: "admin:admin",
  name: "admin",
  admin: true,
};

export function testEncryptor(): Encryptor {
  return createAesEncryptor("rsa", "test-key", randomBytes(32));
}

/** Inserts a non-admin API key scoped to `spaceId` with `level`; returns its session. */
export async function apiKeySession(
  db: Database,
  opts: { spaceId: string; level: "READ" | "WRITE" | "ADMIN"; name?: string },
): Promise<Session> {
  const id = ulid();
  const name = opts.name ?? `key-${opts.level.toLowerCase()}-${opts.spaceId}`;
  await db
    .insertInto("api_keys")
    .values({
      id,
      name,
      secret_hash: hashSecret(id),
      space_id: opts.spaceId,
      access_level: opts.level,
    })
    .execute();
  return { kind: "api_key", id, name, admin: false };
}

/** Inserts a space; `inherit` sets `inherit_entities` (use the parent's pools, contexts, ...). */
export async function insertSpace(
  db: Database,
  id: string,
  parent = "root",
  opts: { inherit?: boolean } = {},
): Promise<void> {
  await db
    .insertInto("spaces")
    .values({
      id,
      name: id,
      parent_space_id: parent,
      inherit_entities: opts.inherit ?? false,
    })
    .execute();
}

/** A StackInput as the Terraform provider sends it: every optional key an explicit null. */
export function providerStackInput(
  overrides: Partial<StackInput> = {},
): StackInput {
  return {
    administrative: false,
    afterApply: null,
    afterDestroy: null,
    afterInit: null,
    afterPerform: null,
    afterPlan: null,
    afterRun: null,
    autodeploy: false,
    autoretry: false,
    beforeApply: null,
    beforeDestroy: null,
    beforeInit: null,
    beforePerform: null,
    beforePlan: null,
    branch: "main",
    description: null,
    githubActionDeploy: null,
    labels: null,
    localPreviewEnabled: null,
    enableWellKnownSecretMasking: null,
    enableSensitiveOutputUpload: null,
    name: "web",
    namespace: null,
    projectRoot: null,
    additionalProjectGlobs: null,
    gitSparseCheckoutPaths: null,
    protectFromDeletion: null,
    provider: "GITHUB",
    repository: "org/web",
    repositoryURL: null,
    runnerImage: null,
    space: null,
    vcsIntegrationId: null,
    vendorConfig: null,
    workerPool: null,
    ...overrides,
  };
}
