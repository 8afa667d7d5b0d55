import { generateKeyPairSync } from "node:crypto";
import { createLocalJWKSet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { createTokenSigner } from "./token-signer.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe("session tokens", () => {
  const signer = createTokenSigner({
    privateKey,
    issuer: "http://stackyard.test",
    audience: "http://stackyard.test",
  });

  it("carry one audience (the public URL) and an expiry, as spacectl and the provider require", async () => {
    const { token, expiresAt } = await signer.sign(
      { sub: "api_key:01ABC", name: "ci", admin: false },
      3600,
    );
    const [, payload] = token.split(".");
    const claims = JSON.parse(
      Buffer.from(payload ?? "", "base64url").toString(),
    ) as { aud: unknown; exp: number };
    expect(claims.aud).toBe("http://stackyard.test");
    expect(claims.exp).toBe(expiresAt);
  });

  it("verify against the published JWK set", async () => {
    const { token } = await signer.sign(
      { sub: "user:admin", name: "admin", admin: true },
      60,
    );
    const { payload } = await jwtVerify(
      token,
      createLocalJWKSet(await signer.jwks()),
      { audience: "http://stackyard.test" },
    );
    expect(payload.sub).toBe("user:admin");
  });

  it("reject a token from another key or an expired one", async () => {
    const other = createTokenSigner({
      privateKey: generateKeyPairSync("rsa", { modulusLength: 2048 })
        .privateKey,
      issuer: "http://stackyard.test",
      audience: "http://stackyard.test",
    });
    const { token } = await other.sign(
      { sub: "user:x", name: "x", admin: true },
      60,
    );
    await expect(signer.verify(token)).rejects.toThrow(/invalid or expired/);
    const past = createTokenSigner({
      privateKey,
      issuer: "http://stackyard.test",
      audience: "http://stackyard.test",
      now: () => 1000,
    });
    const expired = await past.sign(
      { sub: "user:x", name: "x", admin: true },
      60,
    );
    await expect(signer.verify(expired.token)).rejects.toThrow(
      /invalid or expired/,
    );
  });
});
