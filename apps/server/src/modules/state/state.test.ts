import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createTokenSigner } from "../auth/index.ts";
import { createStateCredentialSigner } from "./state-credentials.ts";
import { StateLineageMismatchError, StateSerialError } from "./state-errors.ts";
import {
  isLockStale,
  judgeLock,
  judgeWrite,
  parseLockInfo,
  parseStateDocument,
  sha256,
  stateAccessRefusal,
  stateOutputs,
  type StateCaller,
} from "./state.ts";

const doc = (serial: number, lineage: string, extra = "") =>
  Buffer.from(
    `{"version":4,"serial":${serial},"lineage":"${lineage}"${extra}}`,
  );

describe("parseStateDocument", () => {
  it("reads serial and lineage and checksums the exact bytes", () => {
    const content = doc(3, "abc");
    expect(parseStateDocument(content)).toMatchObject({
      serial: 3,
      lineage: "abc",
      size: content.length,
      checksum: sha256(content),
    });
  });

  it("rejects non-JSON, non-objects, and missing or invalid serial/lineage", () => {
    expect(() => parseStateDocument(Buffer.from("nope"))).toThrow(
      /not valid JSON/,
    );
    expect(() => parseStateDocument(Buffer.from("[1]"))).toThrow(
      /must be a JSON object/,
    );
    expect(() => parseStateDocument(Buffer.from('{"lineage":"x"}'))).toThrow(
      /serial/,
    );
    expect(() =>
      parseStateDocument(Buffer.from('{"serial":-1,"lineage":"x"}')),
    ).toThrow(/serial/);
    expect(() => parseStateDocument(Buffer.from('{"serial":1}'))).toThrow(
      /lineage/,
    );
  });
});

describe("parseLockInfo", () => {
  it("needs an ID", () => {
    expect(
      parseLockInfo(Buffer.from('{"ID":"x","Operation":"OperationTypePlan"}')),
    ).toMatchObject({ id: "x", operation: "OperationTypePlan" });
    expect(() => parseLockInfo(Buffer.from('{"Who":"me"}'))).toThrow(/ID/);
  });
});

describe("judgeWrite", () => {
  const current = { serial: 5, lineage: "L", checksum: "c5" };

  it("accepts anything when there is no current version", () => {
    expect(
      judgeWrite(undefined, { serial: 0, lineage: "any", checksum: "x" }),
    ).toBe("create");
  });

  it("creates a version for a higher serial in the same lineage", () => {
    expect(
      judgeWrite(current, { serial: 6, lineage: "L", checksum: "c6" }),
    ).toBe("create");
  });

  it("does nothing for identical content", () => {
    expect(
      judgeWrite(current, { serial: 5, lineage: "L", checksum: "c5" }),
    ).toBe("unchanged");
  });

  it("rejects another lineage", () => {
    expect(() =>
      judgeWrite(current, { serial: 6, lineage: "M", checksum: "x" }),
    ).toThrow(StateLineageMismatchError);
  });

  it("rejects a serial going backwards", () => {
    expect(() =>
      judgeWrite(current, { serial: 4, lineage: "L", checksum: "x" }),
    ).toThrow(/serial went backwards/);
  });

  it("rejects the same serial with different content", () => {
    expect(() =>
      judgeWrite(current, { serial: 5, lineage: "L", checksum: "x" }),
    ).toThrow(StateSerialError);
  });
});

describe("stateAccessRefusal", () => {
  const caller = (scope: "read" | "write"): StateCaller => ({
    runId: "run_1",
    stackId: "stk",
    scope,
  });
  const run = (type: "TRACKED" | "PROPOSED" | "TASK", state: string) => ({
    id: "run_1",
    stackId: "stk",
    type,
    state,
  });

  it("refuses a missing run, a run of another stack and a terminal run", () => {
    expect(stateAccessRefusal(undefined, caller("write"), "read")).toMatch(
      /does not exist/,
    );
    expect(
      stateAccessRefusal(
        { ...run("TRACKED", "PLANNING"), stackId: "other" },
        caller("write"),
        "read",
      ),
    ).toMatch(/belongs to stack other/);
    for (const state of ["FINISHED", "FAILED", "CANCELED", "STOPPED"])
      expect(
        stateAccessRefusal(run("TRACKED", state), caller("write"), "read"),
      ).toMatch(new RegExp(`is ${state}`));
  });

  it("lets any active run read, proposed ones included", () => {
    for (const state of ["PLANNING", "UNCONFIRMED", "PREPARING"])
      expect(
        stateAccessRefusal(run("PROPOSED", state), caller("read"), "read"),
      ).toBeNull();
  });

  it("lets write-scoped non-proposed runs write only in a writing phase", () => {
    for (const state of ["INITIALIZING", "PLANNING", "APPLYING", "DESTROYING"])
      expect(
        stateAccessRefusal(run("TRACKED", state), caller("write"), "write"),
      ).toBeNull();
    expect(
      stateAccessRefusal(run("TASK", "PERFORMING"), caller("write"), "write"),
    ).toBeNull();
    expect(
      stateAccessRefusal(
        run("TRACKED", "UNCONFIRMED"),
        caller("write"),
        "write",
      ),
    ).toMatch(/UNCONFIRMED/);
  });

  it("never lets proposed runs or read-scoped credentials write", () => {
    expect(
      stateAccessRefusal(run("PROPOSED", "PLANNING"), caller("write"), "write"),
    ).toMatch(/proposed run/);
    expect(
      stateAccessRefusal(run("TRACKED", "APPLYING"), caller("read"), "write"),
    ).toMatch(/read-only/);
  });
});

describe("locks", () => {
  it("treats a lock of a gone or terminal run as stale", () => {
    expect(isLockStale(undefined)).toBe(true);
    expect(isLockStale({ state: "FAILED" })).toBe(true);
    expect(isLockStale({ state: "APPLYING" })).toBe(false);
  });

  it("acquires free or stale locks, accepts a retried LOCK, refuses others", () => {
    const req = { lockId: "a", runId: "run_1" };
    expect(judgeLock(undefined, req)).toBe("acquire");
    expect(judgeLock({ lockId: "z", runId: "run_9", stale: true }, req)).toBe(
      "acquire",
    );
    expect(judgeLock({ lockId: "a", runId: "run_1", stale: false }, req)).toBe(
      "held-by-caller",
    );
    expect(judgeLock({ lockId: "b", runId: "run_1", stale: false }, req)).toBe(
      "locked",
    );
    expect(judgeLock({ lockId: "a", runId: "run_2", stale: false }, req)).toBe(
      "locked",
    );
  });
});

describe("stateOutputs", () => {
  it("lists outputs by name and hides sensitive values", () => {
    expect(
      stateOutputs({
        outputs: {
          b: { value: { nested: true }, type: "object" },
          a: { value: "secret", type: "string", sensitive: true },
        },
      }),
    ).toEqual([
      { name: "a", value: null, sensitive: true },
      { name: "b", value: { nested: true }, sensitive: false },
    ]);
    expect(stateOutputs({})).toEqual([]);
  });
});

describe("state credentials", () => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  let now = 1_700_000_000;
  const signer = createStateCredentialSigner({
    privateKey,
    issuer: "https://stackyard.example.com",
    now: () => now,
  });

  it("round-trips run, stack and scope, and expires", async () => {
    const creds = await signer.issue({
      runId: "run_1",
      stackId: "stk",
      scope: "read",
      ttlSeconds: 60,
    });
    expect(creds).toMatchObject({ username: "run_1", expiresAt: now + 60 });
    await expect(signer.verify("run_1", creds.password)).resolves.toEqual({
      runId: "run_1",
      stackId: "stk",
      scope: "read",
    });
    await expect(signer.verify("run_2", creds.password)).rejects.toThrow(
      /does not match/,
    );
    now += 61;
    await expect(signer.verify("run_1", creds.password)).rejects.toThrow(
      /expired/,
    );
  });

  it("does not accept a token signed for another audience or key", async () => {
    const other = createStateCredentialSigner({
      privateKey: generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey,
      issuer: "https://stackyard.example.com",
      now: () => now,
    });
    const foreign = await other.issue({
      runId: "run_1",
      stackId: "stk",
      scope: "write",
      ttlSeconds: 60,
    });
    await expect(signer.verify("run_1", foreign.password)).rejects.toThrow(
      /invalid/,
    );
    // A session token of the same instance key is not a state credential.
    const session = await createTokenSigner({
      privateKey,
      issuer: "https://stackyard.example.com",
      audience: "https://stackyard.example.com",
      now: () => now,
    }).sign({ sub: "run_1", name: "x", admin: true }, 60);
    await expect(signer.verify("run_1", session.token)).rejects.toThrow(
      /invalid/,
    );
  });
});
