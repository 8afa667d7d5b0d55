import { monotonicFactory } from "ulid";
import type { KeyObject } from "node:crypto";
import {
  LOCAL_WORKSPACE_ID_PATTERN,
  LOCAL_WORKSPACE_MAX_BYTES,
  localWorkspaceProblems,
} from "@stackyard/protocol";
import {
  signingKeyOf,
  signJwt,
  verifyJwt,
  type Encryptor,
  type SigningKey,
} from "../../platform/crypto/index.ts";
import type { Database } from "../../platform/db/index.ts";
import {
  AppError,
  ConflictError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
} from "../../platform/errors.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { Session } from "../auth/index.ts";
import {
  StackNotFoundError,
  lockHolder,
  type SpaceAccess,
  type StackService,
} from "../stacks/index.ts";
import * as repo from "./local-preview-repo.ts";
import type { RunRecord } from "./run-repo.ts";
import type { RunService } from "./run-service.ts";

/** `aud` of upload URL tokens: they open one PUT of one workspace and nothing else. */
export const LOCAL_WORKSPACE_UPLOAD_AUDIENCE =
  "stackyard:local-workspace-upload";
/** How long an upload URL works. */
export const LOCAL_WORKSPACE_UPLOAD_TTL_SECONDS = 10 * 60;
/** Most environment overrides one local preview may carry. */
const MAX_OVERRIDES = 200;
const MAX_OVERRIDE_VALUE_CHARS = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

/** The stack's "local preview" setting is off. HTTP 409 / CONFLICT. */
export class LocalPreviewDisabledError extends ConflictError {
  constructor(stackId: string) {
    super(
      `local preview is not enabled on stack ${stackId}; turn on its localPreviewEnabled setting (the provider's enable_local_preview) first`,
    );
  }
}

/** The upload body is larger than LOCAL_WORKSPACE_MAX_BYTES. HTTP 413. */
export class LocalWorkspaceTooLargeError extends AppError {
  override readonly code = "PAYLOAD_TOO_LARGE";
  override readonly httpStatus = 413;
}

export interface EnvironmentOverride {
  key: string;
  value: string;
}

export interface LocalPreviewDeps {
  db: Database;
  access: Pick<SpaceAccess, "assertCanWrite">;
  stacks: Pick<StackService, "loadStack">;
  runs: Pick<RunService, "proposeLocalPreview">;
  storage: Pick<BlobStore, "get" | "put">;
  /** config.objectStorage.buckets.userUploadedWorkspaces (expires after a day). */
  bucket: string;
  encryptor: Encryptor;
  privateKey: KeyObject | SigningKey;
  /** config.server.publicUrl: the base of upload URLs. */
  publicUrl: string;
  clock: () => Date;
  maxUploadBytes?: number;
}

/**
 * Local previews (spacectl `stack local-preview`): a PROPOSED run whose source is an
 * archive uploaded from the user's machine.
 *
 * 1. `reserveUpload` (GraphQL `uploadLocalWorkspace`): WRITE on a stack with local preview
 *    enabled; records a workspace `lws_…` of that stack and hands out
 *    `PUT <publicUrl>/local-workspaces/<id>?token=…`. The token is an RS256 JWT
 *    (audience LOCAL_WORKSPACE_UPLOAD_AUDIENCE, 10 minutes) naming the workspace and its
 *    stack: the client sends no Authorization header, so the URL is the capability.
 * 2. `acceptUpload` (that PUT): the token, then the size, then the one-time claim
 *    (RESERVED → RECEIVING compare-and-set: a second or concurrent PUT is a 409), then
 *    the archive check (localWorkspaceProblems: a gzip tar under `<id>/` that stays
 *    inside it). A refused body returns the workspace to RESERVED; an accepted one is
 *    stored encrypted in the bucket and the workspace becomes UPLOADED.
 * 3. `propose` (GraphQL `runProposeLocalWorkspace`): creates the run through the run
 *    service and binds the workspace to it in the run's insert transaction (once, and
 *    only on its own stack), with the environment overrides encrypted beside it.
 * 4. The dispatcher reads `forRun` into `run.assign` (`localWorkspace`, overrides on top
 *    of the stack's environment) and the worker fetches `archiveForRun`.
 */
export function createLocalPreviews(deps: LocalPreviewDeps) {
  const { db, storage, encryptor } = deps;
  const ulid = monotonicFactory();
  const key = signingKeyOf(deps.privateKey);
  const baseUrl = deps.publicUrl.replace(/\/+$/, "");
  const maxBytes = deps.maxUploadBytes ?? LOCAL_WORKSPACE_MAX_BYTES;
  const objectKey = (w: { stackId: string; id: string }) =>
    `local-workspaces/${w.stackId}/${w.id}.tar.gz`;
  const nowSeconds = () => Math.floor(deps.clock().getTime() / 1000);

  async function writableStack(session: Session, stackId: string) {
    const stack = await deps.stacks.loadStack(stackId);
    if (!stack) throw new StackNotFoundError(stackId);
    await deps.access.assertCanWrite(
      session,
      stack.spaceId,
      new StackNotFoundError(stackId),
    );
    if (!stack.localPreviewEnabled)
      throw new LocalPreviewDisabledError(stack.id);
    return stack;
  }

  async function verifyToken(id: string, token: string | undefined) {
    if (!token)
      throw new UnauthorizedError(
        "this upload needs the token of its URL (?token=…, from uploadLocalWorkspace)",
      );
    let payload;
    try {
      payload = await verifyJwt(token, key.publicKey, {
        issuer: baseUrl,
        audience: LOCAL_WORKSPACE_UPLOAD_AUDIENCE,
        currentDate: new Date(nowSeconds() * 1000),
      });
    } catch (err) {
      const expired = (err as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new UnauthorizedError(
        expired
          ? `this upload URL has expired (they work for ${LOCAL_WORKSPACE_UPLOAD_TTL_SECONDS} seconds); run the local preview again`
          : "this upload URL is invalid",
        { cause: err },
      );
    }
    if (payload.lws !== id || typeof payload.stk !== "string")
      throw new UnauthorizedError("this upload URL is for another workspace");
    return { stackId: payload.stk };
  }

  function parseOverrides(
    overrides: readonly EnvironmentOverride[] | null | undefined,
  ): EnvironmentOverride[] {
    const list = overrides ?? [];
    if (list.length > MAX_OVERRIDES)
      throw new ValidationError(
        `environmentVarsOverrides has ${list.length} entries; at most ${MAX_OVERRIDES} are allowed`,
      );
    const seen = new Map<string, EnvironmentOverride>();
    list.forEach((o, i) => {
      if (!ENV_NAME.test(o.key))
        throw new ValidationError(
          `environmentVarsOverrides[${i}].key ${JSON.stringify(o.key.slice(0, 100))} is not an environment variable name (letters, digits and _, not starting with a digit)`,
        );
      if (o.value.length > MAX_OVERRIDE_VALUE_CHARS || o.value.includes("\0"))
        throw new ValidationError(
          `environmentVarsOverrides[${i}].value must be at most ${MAX_OVERRIDE_VALUE_CHARS} characters without NUL bytes`,
        );
      seen.set(o.key, { key: o.key, value: o.value });
    });
    return [...seen.values()];
  }

  return {
    maxUploadBytes: maxBytes,

    async reserveUpload(
      session: Session,
      stackId: string,
    ): Promise<{
      id: string;
      uploadUrl: string;
      uploadHeaders: { entries: Array<{ key: string; value: string }> };
    }> {
      const stack = await writableStack(session, stackId);
      const id = `lws_${ulid().toLowerCase()}`;
      await repo.insertLocalWorkspace(db, {
        id,
        stackId: stack.id,
        createdBy: lockHolder(session),
        now: deps.clock(),
      });
      const iat = nowSeconds();
      const token = await signJwt(key, {
        lws: id,
        stk: stack.id,
        sub: lockHolder(session),
        iss: baseUrl,
        aud: LOCAL_WORKSPACE_UPLOAD_AUDIENCE,
        iat,
        exp: iat + LOCAL_WORKSPACE_UPLOAD_TTL_SECONDS,
      });
      return {
        id,
        uploadUrl: `${baseUrl}/local-workspaces/${id}?token=${encodeURIComponent(token)}`,
        uploadHeaders: { entries: [] },
      };
    },

    /** Checks an upload's token and declared size before its body is read. */
    async verifyUpload(
      id: string,
      token: string | undefined,
      contentLength: number | null,
    ): Promise<void> {
      await verifyToken(id, token);
      if (contentLength !== null && contentLength > maxBytes)
        throw new LocalWorkspaceTooLargeError(
          `the workspace archive is ${contentLength} bytes; local previews are limited to ${maxBytes} bytes`,
        );
    },

    /** Stores the body of a PUT to an upload URL, once, after checking the archive. */
    async acceptUpload(
      id: string,
      token: string | undefined,
      body: Buffer,
    ): Promise<{ id: string; size: number }> {
      const { stackId } = await verifyToken(id, token);
      if (body.length > maxBytes)
        throw new LocalWorkspaceTooLargeError(
          `the workspace archive is ${body.length} bytes; local previews are limited to ${maxBytes} bytes`,
        );
      const workspace = await repo.findLocalWorkspace(db, id);
      if (!workspace || workspace.stackId !== stackId)
        throw new NotFoundError(`no local workspace ${id}`);
      if (!(await repo.startReceiving(db, id)))
        throw new ConflictError(
          `local workspace ${id} was already uploaded; each upload URL takes one archive`,
        );
      try {
        const problems = await localWorkspaceProblems(body, id);
        if (problems.length > 0)
          throw new ValidationError(
            `the workspace archive is refused: ${problems.slice(0, 5).join("; ")}`,
          );
        await storage.put(
          deps.bucket,
          objectKey(workspace),
          encryptor.encrypt(body),
          { contentType: "application/octet-stream" },
        );
      } catch (err) {
        await repo.finishReceiving(db, id, { stored: false });
        throw err;
      }
      await repo.finishReceiving(db, id, {
        stored: true,
        sizeBytes: body.length,
        now: deps.clock(),
      });
      return { id, size: body.length };
    },

    /** `runProposeLocalWorkspace`: a PROPOSED run of the stack from the uploaded workspace. */
    async propose(
      session: Session,
      input: {
        stackId: string;
        workspaceId: string;
        overrides?: readonly EnvironmentOverride[] | null;
        metadata?: string | null;
      },
    ): Promise<RunRecord> {
      const stack = await writableStack(session, input.stackId);
      const overrides = parseOverrides(input.overrides);
      if (!LOCAL_WORKSPACE_ID_PATTERN.test(input.workspaceId))
        throw new ValidationError(
          `workspace ${JSON.stringify(input.workspaceId.slice(0, 100))} is not a local workspace id from uploadLocalWorkspace`,
        );
      const workspace = await repo.findLocalWorkspace(db, input.workspaceId);
      if (!workspace || workspace.stackId !== stack.id)
        throw new NotFoundError(
          `no local workspace ${input.workspaceId} on stack ${stack.id}`,
        );
      if (workspace.runId !== null)
        throw new ConflictError(
          `local workspace ${workspace.id} was already used by run ${workspace.runId}; upload the workspace again`,
        );
      if (workspace.state !== "UPLOADED")
        throw new ConflictError(
          `local workspace ${workspace.id} has not been uploaded yet: PUT the archive to its upload URL first`,
        );
      const envOverridesEncrypted = encryptor.encrypt(
        JSON.stringify(overrides),
      );
      return deps.runs.proposeLocalPreview(session, {
        stackId: stack.id,
        metadata: input.metadata ?? null,
        inTx: async (tx, run) => {
          const bound = await repo.bindToRun(tx, {
            id: workspace.id,
            stackId: stack.id,
            runId: run.id,
            envOverridesEncrypted,
          });
          if (!bound)
            throw new ConflictError(
              `local workspace ${workspace.id} was used by another run meanwhile; upload the workspace again`,
            );
        },
      });
    },

    /** The workspace id and overrides of a local preview run; null for any other run. */
    async forRun(
      runId: string,
    ): Promise<{ id: string; overrides: EnvironmentOverride[] } | null> {
      const workspace = await repo.findLocalWorkspaceOfRun(db, runId);
      if (!workspace) return null;
      const overrides = workspace.envOverridesEncrypted
        ? (JSON.parse(
            encryptor.decrypt(workspace.envOverridesEncrypted).toString("utf8"),
          ) as EnvironmentOverride[])
        : [];
      return { id: workspace.id, overrides };
    },

    /** The archive bytes of a local preview run (the worker API); NotFound otherwise. */
    async archiveForRun(runId: string): Promise<Buffer> {
      const workspace = await repo.findLocalWorkspaceOfRun(db, runId);
      if (!workspace)
        throw new NotFoundError(`run ${runId} is not a local preview`);
      const stored = await storage.get(deps.bucket, objectKey(workspace));
      return encryptor.decrypt(stored.toString("utf8"));
    },

    /** Whether the run is a local preview (GraphQL `Run.stackyardLocalPreview`). */
    isLocalPreview: async (runId: string) =>
      (await repo.findLocalWorkspaceOfRun(db, runId)) !== null,
  };
}

export type LocalPreviews = ReturnType<typeof createLocalPreviews>;
