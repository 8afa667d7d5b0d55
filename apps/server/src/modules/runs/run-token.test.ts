import { generateKeyPairSync } from "node:crypto";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { createRunTokenSigner, RUN_TOKEN_AUDIENCE } from "./run-token.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const issuer = "http://stackyard.test";
const signer = createRunTokenSigner({ privateKey, issuer });

describe("run tokens", () => {
  it("verify as RS256 JWTs of the worker API audience", async () => {
    const token = await signer.sign(
      { run: "run_1", worker: "w", pool: "p" },
      60,
    );
    await expect(signer.verify(token)).resolves.toMatchObject({
      run: "run_1",
      worker: "w",
      pool: "p",
    });
  });

  it("refuse a token of another algorithm, even one signed by the instance key", async () => {
    const forged = await new SignJWT({ run: "run_1", worker: "w", pool: "p" })
      .setProtectedHeader({ alg: "PS256" })
      .setIssuer(issuer)
      .setAudience(RUN_TOKEN_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("1m")
      .sign(privateKey);
    await expect(signer.verify(forged)).rejects.toThrow(/invalid or expired/);
  });
});
