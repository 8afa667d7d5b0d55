import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { open, seal } from "@stackyard/protocol";
import { describe, expect, it } from "vitest";
import { generatePoolKeys, poolKeysFromCsr } from "./pool-keys.ts";

describe("pool keys", () => {
  it("take the public key from a real openssl CSR, plain or base64", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "stackyard-csr-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=pool",
        "-keyout",
        path.join(dir, "pool.key"),
        "-out",
        path.join(dir, "pool.csr"),
      ],
      { stdio: "ignore" },
    );
    const csr = readFileSync(path.join(dir, "pool.csr"), "utf8");
    const privateKey = readFileSync(path.join(dir, "pool.key"), "utf8");
    for (const input of [csr, Buffer.from(csr).toString("base64")]) {
      const keys = poolKeysFromCsr(input);
      expect(keys.privateKeyPem).toBeNull();
      expect(
        open(
          privateKey,
          seal(keys.publicKeyPem, "only the pool can read this"),
        ).toString(),
      ).toBe("only the pool can read this");
    }
  });

  it("reject something that is not a CSR, naming the field", () => {
    expect(() => poolKeysFromCsr("hello")).toThrow(
      /^csr: expected a PEM certificate request/,
    );
    expect(() =>
      poolKeysFromCsr(
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
      ),
    ).toThrow(/could not be parsed/);
  });

  it("generate a pair whose private key opens what is sealed to the public key", () => {
    const keys = generatePoolKeys();
    expect(keys.privateKeyPem).toMatch(/BEGIN PRIVATE KEY/);
    expect(
      open(keys.privateKeyPem ?? "", seal(keys.publicKeyPem, "x")).toString(),
    ).toBe("x");
  });
});
