import { createPublicKey, sign, type KeyObject } from "node:crypto";
import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from "jose";

/**
 * The key that signs the instance's RS256 JWTs (sessions, run tokens, state credentials,
 * transfer URLs), wherever its private half lives: in this process (RSA mode) or in AWS
 * KMS (KMS mode, where it never leaves KMS). Verification always uses `publicKey` locally.
 */
export interface SigningKey {
  /** The RSA public key: verifies tokens and is published in the JWKS. */
  readonly publicKey: KeyObject;
  /** RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256") over `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

/** A SigningKey over a private key held in this process. */
export function createLocalSigningKey(privateKey: KeyObject): SigningKey {
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "rsa")
    throw new Error("a local signing key must be an RSA private key");
  return {
    publicKey: createPublicKey(privateKey),
    // Node signs RSA keys with PKCS#1 v1.5 padding unless told otherwise.
    sign: async (data) => sign("sha256", data, privateKey),
  };
}

/** Accepts either a private KeyObject (RSA mode, and most tests) or a SigningKey. */
export function signingKeyOf(key: KeyObject | SigningKey): SigningKey {
  return isKeyObject(key) ? createLocalSigningKey(key) : key;
}

function isKeyObject(key: KeyObject | SigningKey): key is KeyObject {
  return "asymmetricKeyType" in key && "export" in key;
}

/**
 * A compact RS256 JWS: base64url(header).base64url(claims).base64url(signature). Built by
 * hand because jose signs only with a key it holds; the result is an ordinary JWT that
 * jose's `jwtVerify` checks against `key.publicKey`.
 */
export async function signJwt(
  key: SigningKey,
  claims: Record<string, unknown>,
  header: { kid?: string; typ?: string } = {},
): Promise<string> {
  const encode = (value: unknown) =>
    Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
  const input = `${encode({ alg: "RS256", ...header })}.${encode(claims)}`;
  const signature = await key.sign(Buffer.from(input, "ascii"));
  return `${input}.${signature.toString("base64url")}`;
}

/** The only JWS algorithm the instance signs with, and so the only one it accepts. */
export const JWT_ALGORITHMS = ["RS256"] as const;

/**
 * `jwtVerify` with the algorithm pinned to RS256. Every token the instance issues is
 * verified through here: without the pin jose accepts any algorithm the key type allows
 * (PS256, PS512, RS512 for an RSA key), so a token would be checked under rules the
 * issuer never chose.
 */
export async function verifyJwt(
  token: string,
  publicKey: KeyObject,
  options: Omit<JWTVerifyOptions, "algorithms">,
): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, publicKey, {
    ...options,
    algorithms: [...JWT_ALGORITHMS],
  });
  return payload;
}
