import { generateKeyPairSync } from "node:crypto";
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  SignJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fakeKmsClient,
  startFakeKms,
  type FakeKms,
} from "../../../test/fakes/fake-kms.ts";
import { createKmsSigningKey } from "../../platform/crypto/index.ts";
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

  it("reject a token of another algorithm, even one signed by the instance key", async () => {
    const claims = { sub: "user:x", name: "x", admin: true };
    for (const alg of ["PS256", "RS512"]) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg })
        .setIssuer("http://stackyard.test")
        .setAudience("http://stackyard.test")
        .setIssuedAt()
        .setExpirationTime("1m")
        .sign(privateKey);
      await expect(signer.verify(forged)).rejects.toThrow(/invalid or expired/);
    }
  });
});

describe("session tokens signed through KMS", () => {
  let kms: FakeKms;
  beforeAll(async () => {
    kms = await startFakeKms();
  });
  afterAll(async () => kms.close());

  const kmsSigner = async () =>
    createTokenSigner({
      privateKey: await createKmsSigningKey({
        client: fakeKmsClient(kms),
        keyId: kms.signingKeyId,
      }),
      issuer: "http://stackyard.test",
      audience: "http://stackyard.test",
    });

  it("are RS256 JWTs that jose verifies against the KMS public key", async () => {
    const signer = await kmsSigner();
    const { token } = await signer.sign(
      { sub: "user:admin", name: "admin", admin: true },
      60,
    );
    expect(kms.calls).toContain("Sign");
    const jwks = await signer.jwks();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({
      kty: "RSA",
      alg: "RS256",
      use: "sig",
      e: "AQAB",
      kid: expect.any(String),
      n: expect.any(String),
    });
    expect(jwks.keys[0]).not.toHaveProperty("d");
    expect(decodeProtectedHeader(token)).toEqual({
      alg: "RS256",
      kid: jwks.keys[0]?.kid,
    });
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: "http://stackyard.test",
      audience: "http://stackyard.test",
      algorithms: ["RS256"],
    });
    expect(payload).toMatchObject({ sub: "user:admin", admin: true });
    await expect(signer.verify(token)).resolves.toMatchObject({
      sub: "user:admin",
      admin: true,
    });
  });

  it("are refused by a signer with a local key, and vice versa", async () => {
    const signer = await kmsSigner();
    const local = createTokenSigner({
      privateKey,
      issuer: "http://stackyard.test",
      audience: "http://stackyard.test",
    });
    const fromKms = await signer.sign(
      { sub: "user:x", name: "x", admin: true },
      60,
    );
    const fromLocal = await local.sign(
      { sub: "user:x", name: "x", admin: true },
      60,
    );
    await expect(local.verify(fromKms.token)).rejects.toThrow(
      /invalid or expired/,
    );
    await expect(signer.verify(fromLocal.token)).rejects.toThrow(
      /invalid or expired/,
    );
  });
});
