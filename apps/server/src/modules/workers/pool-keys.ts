import {
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import { ValidationError } from "../../platform/errors.ts";

/**
 * A worker pool's key pair. Either the user sends a CSR (they keep the private key, as in
 * `openssl req -new -newkey rsa:4096 -nodes -keyout pool.key -out pool.csr`) and we keep
 * only its public key, or Stackyard generates the pair and returns the private key once.
 * The public key is what secrets and paused workspaces are sealed to.
 */
export interface PoolKeys {
  publicKeyPem: string;
  /** Only when Stackyard generated the pair: shown once, never stored. */
  privateKeyPem: string | null;
}

export function generatePoolKeys(): PoolKeys {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 4096,
  });
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: privateKey
      .export({ type: "pkcs8", format: "pem" })
      .toString(),
  };
}

/** Accepts a PEM CSR, or a base64 of one (what the Spacelift clients send). */
export function poolKeysFromCsr(csr: string): PoolKeys {
  const pem = csr.includes("-----BEGIN")
    ? csr
    : Buffer.from(csr, "base64").toString("utf8");
  const match =
    /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(
      pem,
    );
  if (!match?.[1]) {
    throw new ValidationError(
      "csr: expected a PEM certificate request (openssl req -new -newkey rsa:4096 -nodes ...), plain or base64",
    );
  }
  let publicKey: KeyObject;
  try {
    const der = Buffer.from(match[1].replace(/\s+/g, ""), "base64");
    const request = AsnConvert.parse(der, CertificationRequest);
    const spki = Buffer.from(
      AsnConvert.serialize(request.certificationRequestInfo.subjectPKInfo),
    );
    publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (err) {
    throw new ValidationError(
      "csr: the certificate request could not be parsed",
      { cause: err },
    );
  }
  if (publicKey.asymmetricKeyType !== "rsa") {
    throw new ValidationError(
      `csr: the key must be RSA (got ${publicKey.asymmetricKeyType ?? "unknown"})`,
    );
  }
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: null,
  };
}
