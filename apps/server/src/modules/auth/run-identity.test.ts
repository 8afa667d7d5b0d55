import { generateKeyPairSync } from "node:crypto";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { UnauthorizedError } from "../../platform/errors.ts";
import {
  createRunIdentityIssuer,
  openidConfiguration,
  RUN_IDENTITY_TTL_SECONDS,
  scopeOfRunType,
} from "./run-identity.ts";
import { createTokenSigner } from "./token-signer.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const publicUrl = "https://stackyard.example.com:8443";
const signer = createTokenSigner({
  privateKey,
  issuer: publicUrl,
  audience: publicUrl,
});
const issuer = createRunIdentityIssuer({ signer, publicUrl });
const run = {
  spaceId: "root",
  stackId: "infra",
  runId: "01RUN",
  runType: "TRACKED" as const,
};

describe("run identity tokens", () => {
  it("verify against the published JWKS with the documented claims", async () => {
    const token = await issuer.mint(run);
    const jwks = createLocalJWKSet(await signer.jwks());
    const { payload } = await jwtVerify(token, jwks, {
      issuer: publicUrl,
      audience: "stackyard.example.com:8443",
      algorithms: ["RS256"],
    });
    expect(payload).toMatchObject({
      sub: "space:root:stack:infra:run_type:TRACKED:scope:write",
      spaceId: "root",
      callerType: "stack",
      callerId: "infra",
      runType: "TRACKED",
      runId: "01RUN",
      scope: "write",
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(
      RUN_IDENTITY_TTL_SECONDS,
    );
    expect(decodeProtectedHeader(token).kid).toBe(
      (await signer.jwks()).keys[0]?.kid,
    );
  });

  it("give proposed runs the read scope and every other run type write", () => {
    expect(scopeOfRunType("PROPOSED")).toBe("read");
    for (const t of ["TRACKED", "TASK", "DESTROY"] as const)
      expect(scopeOfRunType(t)).toBe("write");
  });

  it("are refused as session tokens (their audience is the host, not the URL)", async () => {
    const token = await issuer.mint({ ...run, runType: "PROPOSED" });
    await expect(signer.verify(token)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
  });

  it("are never minted for the session audience", async () => {
    await expect(
      signer.signForAudience(
        { sub: "user:x" },
        { audience: publicUrl, ttlSeconds: 60 },
      ),
    ).rejects.toThrow(/never signs session tokens/);
  });

  it("are described by an OpenID configuration whose issuer is the token's", () => {
    const doc = openidConfiguration(publicUrl);
    expect(doc.issuer).toBe(publicUrl);
    expect(doc.jwks_uri).toBe(`${publicUrl}/.well-known/jwks`);
    expect(doc.id_token_signing_alg_values_supported).toEqual(["RS256"]);
  });
});
