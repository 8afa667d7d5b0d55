/**
 * Pure rules of the managed state backend: what a state file must contain, which writes
 * make a new version, who may read or write, and when a lock may be taken. No I/O: the
 * service loads the facts (current version, lock row, the caller's run) inside its
 * transaction and asks these functions.
 */
import { createHash } from "node:crypto";
import {
  WRITING_STATES,
  isTerminal,
  isWritingState,
  type RunType,
} from "../run-status/index.ts";
import type { AccessLevel } from "../stacks/index.ts";
import {
  InvalidStateError,
  StateLineageMismatchError,
  StateSerialError,
} from "./state-errors.ts";

/** What state credentials allow: proposed runs get "read", runs that may change infrastructure "write". */
export type StateScope = "read" | "write";
export type StateAccess = "read" | "write";

/** The run (or user) a request acts for, once its credentials are verified (not yet checked against the DB). */
export interface StateCaller {
  /**
   * The run id; for a user caller (`user` set) the user's holder id instead
   * (`userHolderId`), which is what a lock it takes records as its holder.
   */
  readonly runId: string;
  /** The stack whose state is accessed. */
  readonly stackId: string;
  readonly scope: StateScope;
  /**
   * Set for external state access: the stack the credentials' run belongs to, when it is
   * not `stackId`. Such a caller may only read (GET), never lock or write.
   */
  readonly readerStackId?: string;
  /**
   * Set when a user outside the platform uses the backend with their own credentials
   * (API key, or a session token) on a stack with external state access enabled:
   * their access level on the stack's space, judged when the request was authenticated.
   */
  readonly user?: { readonly name: string; readonly level: AccessLevel };
}

/**
 * The lock holder recorded for a user caller: `<session kind>:<id>`, e.g.
 * `api_key:01J...` or `user:admin`. Run ids (`run_...`) never contain a colon.
 */
export function userHolderId(session: { kind: string; id: string }): string {
  return `${session.kind}:${session.id}`;
}

/** Whether a lock's holder is a user (see `userHolderId`) rather than a run. */
export function isUserHolder(holderId: string): boolean {
  return holderId.startsWith("api_key:") || holderId.startsWith("user:");
}

/**
 * Why a user caller with `level` on the stack's space may not perform `what`, or null when
 * they may. External state access for users (spacelift-reference §1.5 allows reads only)
 * is widened here so that `tofu plan` works from a laptop: READ may GET; LOCK and UNLOCK
 * need WRITE (plan takes the lock); POST (a state write) needs ADMIN.
 */
export function userStateRefusal(
  user: { name: string; level: AccessLevel },
  what: "read" | "lock" | "write",
): string | null {
  const required: AccessLevel =
    what === "read" ? "READ" : what === "lock" ? "WRITE" : "ADMIN";
  const rank = { NONE: 0, READ: 1, WRITE: 2, ADMIN: 3 } as const;
  if (rank[user.level] >= rank[required]) return null;
  return `${user.name} has ${user.level} access to the stack's space; ${what === "read" ? "reading" : what === "lock" ? "locking or unlocking" : "writing"} the state through external state access needs ${required}`;
}

/** The facts about a run that decide its state access. */
export interface StateRunFacts {
  readonly id: string;
  readonly stackId: string;
  readonly type: RunType;
  readonly state: string;
}

/** An immutable state version as the API shows it (the content lives in object storage). */
export interface StateVersion {
  id: string;
  stackId: string;
  runId: string | null;
  serial: number;
  lineage: string;
  /** sha256 (hex) of the plaintext state. */
  checksum: string;
  size: number;
  isCurrent: boolean;
  createdAt: Date;
  createdBy: string | null;
  restoredFromId: string | null;
}

export interface StateLock {
  stackId: string;
  lockId: string;
  runId: string;
  /** The LockInfo JSON tofu sent with LOCK (ID, Operation, Who, Version, Created, ...). */
  info: Record<string, unknown>;
  createdAt: Date;
}

export interface StateOutput {
  name: string;
  /** null when the output is sensitive: its value never leaves the state file. */
  value: unknown;
  sensitive: boolean;
}

/** A parsed state file: the fields the backend checks, plus the raw document. */
export interface StateDocument {
  serial: number;
  lineage: string;
  checksum: string;
  size: number;
  doc: Record<string, unknown>;
}

/** The lock operation tofu reports for `tofu plan`, the only one read-only credentials may "lock" for. */
export const PLAN_OPERATION = "OperationTypePlan";

export function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function parseJsonObject(
  content: Buffer,
  what: string,
): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(content.toString("utf8"));
  } catch (err) {
    throw new InvalidStateError(`the ${what} is not valid JSON`, {
      cause: err,
    });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new InvalidStateError(`the ${what} must be a JSON object`);
  return doc as Record<string, unknown>;
}

/** Parses an uploaded state file; rejects anything without an integer `serial` and a `lineage`. */
export function parseStateDocument(content: Buffer): StateDocument {
  const doc = parseJsonObject(content, "state");
  const { serial, lineage } = doc;
  if (typeof serial !== "number" || !Number.isSafeInteger(serial) || serial < 0)
    throw new InvalidStateError(
      "the state has no valid `serial` (a non-negative integer); is this an OpenTofu/Terraform state file?",
    );
  if (typeof lineage !== "string" || lineage === "")
    throw new InvalidStateError(
      "the state has no `lineage`; is this an OpenTofu/Terraform state file?",
    );
  return {
    serial,
    lineage,
    checksum: sha256(content),
    size: content.length,
    doc,
  };
}

/** Parses LockInfo JSON (LOCK / UNLOCK bodies); only `ID` is required. */
export function parseLockInfo(content: Buffer): {
  id: string;
  operation: string | null;
  info: Record<string, unknown>;
} {
  const info = parseJsonObject(content, "lock info");
  if (typeof info.ID !== "string" || info.ID === "")
    throw new InvalidStateError("the lock info has no `ID`");
  return {
    id: info.ID,
    operation: typeof info.Operation === "string" ? info.Operation : null,
    info,
  };
}

/**
 * Why `run` may not access the state of `caller.stackId`, or null when it may. Reads need
 * a run of this stack that is not terminal (proposed runs included); writes also need
 * write-scoped credentials, a non-proposed run, and a writing phase (WRITING_STATES).
 */
export function stateAccessRefusal(
  run: StateRunFacts | undefined,
  caller: StateCaller,
  access: StateAccess,
): string | null {
  if (!run) return `run ${caller.runId} does not exist`;
  const ownStack = caller.readerStackId ?? caller.stackId;
  if (run.stackId !== ownStack)
    return `run ${run.id} belongs to stack ${run.stackId}, not ${ownStack}`;
  if (isTerminal(run.state))
    return `run ${run.id} is ${run.state}; the state credentials of a run end with the run`;
  if (access === "read") return null;
  if (caller.readerStackId !== undefined)
    return `run ${run.id} of stack ${caller.readerStackId} has external, read-only access to the state of stack ${caller.stackId}`;
  if (run.type === "PROPOSED")
    return `run ${run.id} is a proposed run: it may read the state but never change it`;
  if (caller.scope !== "write")
    return `these state credentials of run ${run.id} are read-only`;
  if (!isWritingState(run.state))
    return `run ${run.id} is ${run.state}; a run may change the state only while ${WRITING_STATES.join(", ")}`;
  return null;
}

/**
 * Why runs of `readerStackId` may not read `target`'s state through external state access,
 * or null when they may: the target must allow it (`external_state_access`, off by
 * default) and its space must be the reader's space or one of its ancestors, the same
 * spaces whose contexts reach the reader stack (a stack sees upwards, never sideways or
 * down).
 */
export function externalReadRefusal(
  facts:
    | {
        target: { id: string; spaceId: string; externalStateAccess: boolean };
        readerSpaceLineage: readonly string[];
      }
    | undefined,
  readerStackId: string,
): string | null {
  if (!facts) return "the stack does not exist";
  const { target } = facts;
  if (!target.externalStateAccess)
    return `stack ${target.id} does not allow external state access (vendorConfig externalStateAccessEnabled)`;
  if (!facts.readerSpaceLineage.includes(target.spaceId))
    return `stack ${readerStackId} is not in space ${target.spaceId} of stack ${target.id} or below it`;
  return null;
}

/**
 * A lock is stale when its holder can no longer release it: the run is gone or terminal.
 * A stale lock never blocks anyone; the next LOCK takes it over.
 */
export function isLockStale(holder: { state: string } | undefined): boolean {
  return holder === undefined || isTerminal(holder.state);
}

export type LockDecision =
  /** Nobody holds the lock (or only a stale holder does): take it. */
  | "acquire"
  /** The same lock ID of the same run: a retried LOCK, nothing to do. */
  | "held-by-caller"
  | "locked";

/**
 * Whether `request` may take the lock. Note that a live run holding the lock under another
 * ID is refused even when it is the caller's own run: the server cannot tell a dead tofu
 * process of the run from a live concurrent one. The worst case is that the run fails;
 * the lock is then stale and the next run takes it over, so it never becomes unclearable.
 */
export function judgeLock(
  held: { lockId: string; runId: string; stale: boolean } | undefined,
  request: { lockId: string; runId: string },
): LockDecision {
  if (!held || held.stale) return "acquire";
  if (held.lockId === request.lockId && held.runId === request.runId)
    return "held-by-caller";
  return "locked";
}

/**
 * What a write of `next` does given the stack's current version: nothing (same bytes),
 * a new version, or an error. Lineage must match and the serial may not go backwards;
 * an equal serial with different content is refused too, since tofu bumps the serial on
 * every change and two different states with one serial would make history ambiguous.
 * With no current version (first write, or after DELETE) any lineage and serial is accepted.
 */
export function judgeWrite(
  current: { serial: number; lineage: string; checksum: string } | undefined,
  next: Pick<StateDocument, "serial" | "lineage" | "checksum">,
): "unchanged" | "create" {
  if (!current) return "create";
  if (next.lineage !== current.lineage)
    throw new StateLineageMismatchError(
      `lineage ${next.lineage} does not match the stack's state lineage ${current.lineage}`,
    );
  if (next.checksum === current.checksum) return "unchanged";
  if (next.serial < current.serial)
    throw new StateSerialError(
      `serial went backwards: the upload has serial ${next.serial}, the current state has ${current.serial}`,
    );
  if (next.serial === current.serial)
    throw new StateSerialError(
      `serial ${next.serial} is already the current state with different content; a changed state needs a higher serial`,
    );
  return "create";
}

/** The outputs of a state file, sorted by name, with sensitive values hidden. */
export function stateOutputs(doc: Record<string, unknown>): StateOutput[] {
  const outputs = doc.outputs;
  if (typeof outputs !== "object" || outputs === null) return [];
  return Object.entries(outputs as Record<string, unknown>)
    .map(([name, raw]) => {
      const o = (typeof raw === "object" && raw !== null ? raw : {}) as {
        value?: unknown;
        sensitive?: unknown;
      };
      const sensitive = o.sensitive === true;
      return { name, value: sensitive ? null : (o.value ?? null), sensitive };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
