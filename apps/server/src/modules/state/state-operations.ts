import { createHash, type KeyObject } from "node:crypto";
import { ulid } from "ulid";
import {
  signingKeyOf,
  signJwt,
  verifyJwt,
  type Encryptor,
  type SigningKey,
} from "../../platform/crypto/index.ts";
import {
  AppError,
  ConflictError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
} from "../../platform/errors.ts";
import type { Logger } from "../../platform/log/logger.ts";
import {
  ObjectNotFoundError,
  type BlobStore,
} from "../../platform/storage/index.ts";
import type { Session } from "../auth/index.ts";
import {
  lockHolder,
  StackNotFoundError,
  type SpaceAccess,
  type StackService,
  type StackView,
} from "../stacks/index.ts";
import { InvalidStateError } from "./state-errors.ts";
import type { StateService } from "./state-service.ts";
import {
  parseStateDocument,
  type StateLock,
  type StateVersion,
} from "./state.ts";

/** Largest state a user may upload for import (spacelift-reference §1.5). */
export const STATE_IMPORT_LIMIT_BYTES = 100 * 1024 * 1024;
/** How long a download or upload URL works. */
export const STATE_TRANSFER_TTL_SECONDS = 5 * 60;
/** Audience of transfer tokens; neither sessions nor state credentials are accepted as one. */
export const STATE_TRANSFER_AUDIENCE = "stackyard:state-transfer";

/** The upload is larger than the configured limit. HTTP 413. */
export class StateUploadTooLargeError extends AppError {
  override readonly code = "PAYLOAD_TOO_LARGE";
  override readonly httpStatus = 413;
}

export interface StateOperationsDeps {
  state: Pick<
    StateService,
    | "listVersions"
    | "findVersion"
    | "getCurrentVersion"
    | "getVersionContent"
    | "getLock"
    | "importVersion"
    | "rollbackAs"
    | "forceUnlockAs"
  >;
  stacks: Pick<StackService, "getStack">;
  access: Pick<SpaceAccess, "assertCanWrite" | "assertCanAdmin">;
  storage: BlobStore;
  encryptor: Pick<Encryptor, "encrypt" | "decrypt">;
  /** config.objectStorage.buckets.uploads */
  uploadsBucket: string;
  /** The instance signing key (RSA private key or KMS-backed SigningKey); signs the transfer tokens in download and upload URLs. */
  privateKey: KeyObject | SigningKey;
  /** config.server.publicUrl: the base of the URLs handed out. */
  publicUrl: string;
  log: Logger;
  clock?: () => Date;
  /** Defaults to STATE_IMPORT_LIMIT_BYTES; tests inject a small one. */
  uploadLimitBytes?: number;
  transferTtlSeconds?: number;
}

/** A version as the REST API and the CLI show it. */
export interface StateVersionView {
  id: string;
  serial: number;
  lineage: string;
  checksum: string;
  size: number;
  runId: string | null;
  createdAt: string;
  createdBy: string | null;
  restoredFromId: string | null;
  isCurrent: boolean;
}

export interface StateLockView {
  lockId: string;
  runId: string;
  createdAt: string;
  stale: boolean;
  info: Record<string, unknown>;
}

type TransferClaims =
  | { typ: "download"; stk: string; ver: string }
  | { typ: "upload"; obj: string; own: string };

export function presentVersion(v: StateVersion): StateVersionView {
  return {
    id: v.id,
    serial: v.serial,
    lineage: v.lineage,
    checksum: v.checksum,
    size: v.size,
    runId: v.runId,
    createdAt: v.createdAt.toISOString(),
    createdBy: v.createdBy,
    restoredFromId: v.restoredFromId,
    isCurrent: v.isCurrent,
  };
}

function presentLock(lock: StateLock & { stale: boolean }): StateLockView {
  return {
    lockId: lock.lockId,
    runId: lock.runId,
    createdAt: lock.createdAt.toISOString(),
    stale: lock.stale,
    info: lock.info,
  };
}

/**
 * The user-facing state operations behind GraphQL (`stateDownloadUrl`, `stateUploadUrl`,
 * `stackCreate(stackObjectID)`) and the REST routes under `/api/v1/stacks/:id/state`.
 * Every method taking a Session checks space access on the stack's space, using the
 * stacks module: a stack the caller cannot read is not found.
 *
 * | operation                   | needs                                                 |
 * | --------------------------- | ----------------------------------------------------- |
 * | history (versions, lock)    | READ                                                  |
 * | download URL                | WRITE (the state holds secrets)                       |
 * | upload URL                  | a session (the object is bound to it)                 |
 * | import, rollback            | ADMIN, stack locked by the caller, no unfinished runs |
 * | force-unlock the state lock | ADMIN (audited)                                       |
 *
 * Download and upload URLs are fetched without a bearer token (graphql-compat §0.5), so
 * they carry a signed transfer token (RS256, audience STATE_TRANSFER_AUDIENCE, 5 min):
 * a download token names one stack and version; an upload token names one object in the
 * uploads bucket, under a prefix derived from the session that asked for it, so only
 * that session can import it, and it works once (a second PUT is a 409). Uploads are
 * stored encrypted and deleted once imported (otherwise the uploads bucket's expiry
 * collects them).
 */
export function createStateOperations(deps: StateOperationsDeps) {
  const { state, stacks, access, storage, encryptor, log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const uploadLimitBytes = deps.uploadLimitBytes ?? STATE_IMPORT_LIMIT_BYTES;
  const ttl = deps.transferTtlSeconds ?? STATE_TRANSFER_TTL_SECONDS;
  const baseUrl = deps.publicUrl.replace(/\/+$/, "");
  const signingKey = signingKeyOf(deps.privateKey);
  const { publicKey } = signingKey;
  const now = () => Math.floor(clock().getTime() / 1000);

  const ownerTag = (session: Session) =>
    createHash("sha256")
      .update(`${session.kind}:${session.id}`)
      .digest("hex")
      .slice(0, 24);
  const uploadKey = (owner: string, objectId: string) =>
    `state-imports/${owner}/${objectId}`;
  const actorOf = (session: Session) => ({
    id: `${session.kind}:${session.id}`,
    name: session.name,
  });

  async function sign(
    claims: TransferClaims,
    subject: string,
  ): Promise<{ token: string; expiresAt: number }> {
    const iat = now();
    const token = await signJwt(signingKey, {
      ...claims,
      sub: subject,
      iss: baseUrl,
      aud: STATE_TRANSFER_AUDIENCE,
      jti: ulid(),
      iat,
      exp: iat + ttl,
    });
    return { token, expiresAt: iat + ttl };
  }

  async function verify<T extends TransferClaims["typ"]>(
    token: string,
    typ: T,
  ): Promise<Extract<TransferClaims, { typ: T }>> {
    const what = typ === "download" ? "download" : "upload";
    let payload;
    try {
      payload = await verifyJwt(token, publicKey, {
        issuer: baseUrl,
        audience: STATE_TRANSFER_AUDIENCE,
        currentDate: new Date(now() * 1000),
      });
    } catch (err) {
      const expired = (err as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new UnauthorizedError(
        expired
          ? `this state ${what} URL has expired (they work for ${ttl} seconds); ask for a new one`
          : `this state ${what} URL is invalid`,
        { cause: err },
      );
    }
    if (payload.typ !== typ)
      throw new UnauthorizedError(`this is not a state ${what} URL`);
    return payload as unknown as Extract<TransferClaims, { typ: T }>;
  }

  /** The stack, with the caller's access asserted at `level`. */
  async function stackFor(
    session: Session,
    stackId: string,
    level: "READ" | "WRITE" | "ADMIN",
  ): Promise<StackView> {
    const stack = await stacks.getStack(session, stackId);
    const hidden = new StackNotFoundError(stackId);
    if (level === "WRITE")
      await access.assertCanWrite(session, stack.spaceId, hidden);
    if (level === "ADMIN")
      await access.assertCanAdmin(session, stack.spaceId, hidden);
    return stack;
  }

  function requireManagedState(stack: StackView): void {
    if (!stack.manageState)
      throw new ValidationError(
        `stack ${stack.id} does not use Stackyard-managed state (manageState is false)`,
      );
  }

  function requireLockedByCaller(
    session: Session,
    stack: StackView,
    what: string,
  ): void {
    const holder = lockHolder(session);
    if (stack.lockedBy === holder) return;
    throw new ConflictError(
      stack.lockedBy
        ? `cannot ${what}: stack ${stack.id} is locked by ${stack.lockedBy}, not by you; ${what} needs the stack locked by the caller`
        : `cannot ${what}: lock stack ${stack.id} first (stackLock, or \`spacectl stack lock\`) so no run starts meanwhile`,
    );
  }

  /** Reads and decrypts an upload of `session`; NotFound when there is none. */
  async function readUpload(
    session: Session,
    objectId: string,
  ): Promise<{ key: string; content: Buffer }> {
    if (!/^[0-9a-z]{26}$/.test(objectId))
      throw new ValidationError(
        `stackObjectID ${JSON.stringify(objectId)} is not an object id from stateUploadUrl`,
      );
    const key = uploadKey(ownerTag(session), objectId);
    let stored: Buffer;
    try {
      stored = await storage.get(deps.uploadsBucket, key);
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new NotFoundError(
          `no uploaded state ${objectId}: upload the file to the URL from stateUploadUrl first, with the same credentials (uploads expire after a day)`,
        );
      throw err;
    }
    const content = encryptor.decrypt(stored.toString("utf8"));
    if (content.length > uploadLimitBytes)
      throw new StateUploadTooLargeError(
        `the uploaded state is ${content.length} bytes; the limit is ${uploadLimitBytes} bytes`,
      );
    return { key, content };
  }

  function parseImport(content: Buffer): void {
    try {
      parseStateDocument(content);
    } catch (err) {
      if (err instanceof InvalidStateError)
        throw new InvalidStateError(
          `the uploaded file is not an OpenTofu/Terraform state: ${err.message}`,
          { cause: err },
        );
      throw err;
    }
  }

  return {
    uploadLimitBytes,

    /** History newest first, and the state lock if one is held. READ. */
    async listVersions(
      session: Session,
      stackId: string,
      opts: { limit?: number; after?: string | null } = {},
    ): Promise<{ versions: StateVersionView[]; lock: StateLockView | null }> {
      await stackFor(session, stackId, "READ");
      const [versions, lock] = await Promise.all([
        state.listVersions(stackId, opts),
        state.getLock(stackId),
      ]);
      return {
        versions: versions.map(presentVersion),
        lock: lock ? presentLock(lock) : null,
      };
    },

    /** A URL that serves the current (or the given) version without a bearer. WRITE. */
    async downloadUrl(
      session: Session,
      stackId: string,
      versionId?: string | null,
    ): Promise<{ url: string; versionId: string; expiresAt: number }> {
      await stackFor(session, stackId, "WRITE");
      const version = versionId
        ? await state.findVersion(stackId, versionId)
        : await state.getCurrentVersion(stackId);
      if (!version)
        throw new NotFoundError(
          versionId
            ? `stack ${stackId} has no state version ${versionId}`
            : `stack ${stackId} has no state yet`,
        );
      const { token, expiresAt } = await sign(
        { typ: "download", stk: stackId, ver: version.id },
        actorOf(session).id,
      );
      return {
        url: `${baseUrl}/state-download/${token}`,
        versionId: version.id,
        expiresAt,
      };
    },

    /** Serves a download URL: the decrypted state file of the version it names. */
    async serveDownload(
      token: string,
    ): Promise<{ stackId: string; versionId: string; content: Buffer }> {
      const claims = await verify(token, "download");
      const content = await state.getVersionContent(claims.stk, claims.ver);
      return { stackId: claims.stk, versionId: claims.ver, content };
    },

    /** A one-time URL to PUT a state file to, and the object id to import it by. */
    async uploadUrl(
      session: Session,
    ): Promise<{ objectId: string; url: string; expiresAt: number }> {
      const objectId = ulid().toLowerCase();
      const { token, expiresAt } = await sign(
        { typ: "upload", obj: objectId, own: ownerTag(session) },
        actorOf(session).id,
      );
      return { objectId, url: `${baseUrl}/uploads/${token}`, expiresAt };
    },

    /** Checks an upload token before its body is read. */
    async verifyUpload(
      token: string,
      contentLength: number | null,
    ): Promise<void> {
      await verify(token, "upload");
      if (contentLength !== null && contentLength > uploadLimitBytes)
        throw new StateUploadTooLargeError(
          `the upload is ${contentLength} bytes; state uploads are limited to ${uploadLimitBytes} bytes`,
        );
    },

    /** Stores the body of a PUT to an upload URL (encrypted), once. */
    async acceptUpload(
      token: string,
      body: Buffer,
    ): Promise<{ objectId: string; size: number }> {
      const claims = await verify(token, "upload");
      if (body.length > uploadLimitBytes)
        throw new StateUploadTooLargeError(
          `the upload is ${body.length} bytes; state uploads are limited to ${uploadLimitBytes} bytes`,
        );
      const key = uploadKey(claims.own, claims.obj);
      if (await storage.head(deps.uploadsBucket, key))
        throw new ConflictError(
          "this upload URL was already used; ask for a new one with stateUploadUrl",
        );
      await storage.put(deps.uploadsBucket, key, encryptor.encrypt(body), {
        contentType: "application/octet-stream",
      });
      return { objectId: claims.obj, size: body.length };
    },

    /**
     * Checks that `objectId` is an upload of `session` that parses as a state; stackCreate
     * calls it before creating the stack so a bad file creates nothing.
     */
    async checkImport(session: Session, objectId: string): Promise<void> {
      parseImport((await readUpload(session, objectId)).content);
    },

    /**
     * Imports an uploaded state (`objectId` from stateUploadUrl) as the stack's new current
     * version: stack ADMIN, managed state, the stack locked by the caller (not needed
     * `atCreation`: nobody else can know the new stack yet), no unfinished runs, the
     * state lock free, at most the upload limit, and a parseable state. Audited.
     */
    async importState(
      session: Session,
      stackId: string,
      objectId: string,
      opts: { atCreation?: boolean } = {},
    ): Promise<StateVersionView> {
      const stack = await stackFor(session, stackId, "ADMIN");
      requireManagedState(stack);
      if (!opts.atCreation)
        requireLockedByCaller(session, stack, "import a state");
      const { key, content } = await readUpload(session, objectId);
      parseImport(content);
      const { version } = await state.importVersion({
        stackId,
        content,
        actor: actorOf(session).id,
      });
      await storage.delete(deps.uploadsBucket, key).catch((err: unknown) => {
        log.warn(
          { err, key },
          "could not delete an imported upload; the uploads bucket's expiry will",
        );
      });
      return presentVersion(version);
    },

    /** Rolls back to `versionId` (a new version with its content). ADMIN, locked, no runs. */
    async rollback(
      session: Session,
      stackId: string,
      versionId: string,
    ): Promise<StateVersionView> {
      const stack = await stackFor(session, stackId, "ADMIN");
      requireLockedByCaller(session, stack, "roll back the state");
      return presentVersion(
        await state.rollbackAs(actorOf(session), stackId, versionId, {
          refuseWithPendingRuns: true,
        }),
      );
    },

    /** Removes the state lock whoever holds it. ADMIN; audited at warn. */
    async forceUnlock(
      session: Session,
      stackId: string,
    ): Promise<{ unlocked: boolean; lock: StateLockView | null }> {
      await stackFor(session, stackId, "ADMIN");
      const before = await state.getLock(stackId);
      const removed = await state.forceUnlockAs(actorOf(session), stackId);
      const stale = before?.lockId === removed?.lockId && before?.stale;
      return {
        unlocked: removed !== null,
        lock: removed
          ? presentLock({ ...removed, stale: stale === true })
          : null,
      };
    },
  };
}

export type StateOperations = ReturnType<typeof createStateOperations>;
