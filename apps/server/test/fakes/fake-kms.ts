import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  generateKeyPairSync,
  privateEncrypt,
  randomBytes,
  randomUUID,
  sign,
  type KeyObject,
} from "node:crypto";
import http from "node:http";
import { KMSClient } from "@aws-sdk/client-kms";
import type { AddressInfo } from "node:net";

/**
 * A fake AWS KMS for tests: a node:http server speaking KMS's real wire protocol (AWS JSON
 * 1.1: `POST /`, `X-Amz-Target: TrentService.<Op>`, JSON bodies with base64 blobs, errors
 * as `{__type, message}` with status 400), so `@aws-sdk/client-kms` talks to it unchanged
 * through `endpoint`. Backed by real crypto: AES-256-GCM for symmetric keys, a real RSA key
 * for signing. SigV4 signatures are not checked, but an Authorization header is required.
 *
 * Operations: Encrypt, Decrypt, Sign, GetPublicKey.
 */
export interface FakeKms {
  /** The endpoint to give the SDK client. */
  url: string;
  region: string;
  /** Key id (UUID) of the SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT key. */
  encryptionKeyId: string;
  /** Key id (UUID) of the RSA / SIGN_VERIFY key. */
  signingKeyId: string;
  /** Operation names received, in order (e.g. "Encrypt"). */
  calls: string[];
  /** Adds another symmetric key (e.g. to test a wrong key); returns its id. */
  addSymmetricKey(): string;
  close(): Promise<void>;
}

interface SymmetricKey {
  kind: "symmetric";
  id: string;
  arn: string;
  material: Buffer;
}
interface RsaKey {
  kind: "rsa";
  id: string;
  arn: string;
  privateKey: KeyObject;
  spec: string;
}
type Key = SymmetricKey | RsaKey;

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const ACCOUNT = "111122223333";
const BLOB_MAGIC = 0x5f;
/** DER DigestInfo prefix of SHA-256 (RFC 8017 §9.2): what PKCS#1 v1.5 signs around a digest. */
const SHA256_DIGEST_INFO = Buffer.from(
  "3031300d060960864801650304020105000420",
  "hex",
);

export async function startFakeKms(
  opts: { region?: string; rsaModulusLength?: 2048 | 3072 | 4096 } = {},
): Promise<FakeKms> {
  const region = opts.region ?? "eu-west-1";
  const keys = new Map<string, Key>();
  const calls: string[] = [];
  const arnOf = (id: string) => `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;

  const addSymmetricKey = () => {
    const id = randomUUID();
    const key: SymmetricKey = {
      kind: "symmetric",
      id,
      arn: arnOf(id),
      material: randomBytes(32),
    };
    keys.set(id, key);
    keys.set(key.arn, key);
    return id;
  };
  const encryptionKeyId = addSymmetricKey();
  const modulusLength = opts.rsaModulusLength ?? 2048;
  const signingKeyId = randomUUID();
  const rsa: RsaKey = {
    kind: "rsa",
    id: signingKeyId,
    arn: arnOf(signingKeyId),
    privateKey: generateKeyPairSync("rsa", { modulusLength }).privateKey,
    spec: `RSA_${modulusLength}`,
  };
  keys.set(rsa.id, rsa);
  keys.set(rsa.arn, rsa);

  const findKey = (keyId: unknown): Key => {
    if (typeof keyId !== "string" || keyId === "")
      throw new KmsError("ValidationException", "KeyId is required");
    const key = keys.get(keyId);
    if (!key)
      throw new KmsError("NotFoundException", `Key '${keyId}' does not exist`);
    return key;
  };
  const blob = (value: unknown, field: string): Buffer => {
    if (typeof value !== "string" || value === "")
      throw new KmsError("ValidationException", `${field} is required`);
    return Buffer.from(value, "base64");
  };
  const contextAad = (context: unknown): Buffer => {
    if (context === undefined || context === null) return Buffer.alloc(0);
    const entries = Object.entries(context as Record<string, string>).sort(
      ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0),
    );
    return Buffer.from(JSON.stringify(entries));
  };

  const operations: Record<string, (body: Record<string, unknown>) => object> =
    {
      Encrypt(body) {
        const key = findKey(body["KeyId"]);
        if (key.kind !== "symmetric")
          throw new KmsError(
            "InvalidKeyUsageException",
            `${key.arn} key usage is SIGN_VERIFY which is not valid for Encrypt.`,
          );
        const plaintext = blob(body["Plaintext"], "Plaintext");
        if (plaintext.length > 4096)
          throw new KmsError(
            "ValidationException",
            "Plaintext must be at most 4096 bytes",
          );
        const iv = randomBytes(12);
        const cipher = createCipheriv("aes-256-gcm", key.material, iv);
        cipher.setAAD(contextAad(body["EncryptionContext"]));
        const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        const id = Buffer.from(key.id, "ascii");
        // Like the real service, the blob names its key, so Decrypt needs no KeyId.
        const out = Buffer.concat([
          Buffer.from([BLOB_MAGIC, id.length]),
          id,
          iv,
          cipher.getAuthTag(),
          ct,
        ]);
        return {
          CiphertextBlob: out.toString("base64"),
          KeyId: key.arn,
          EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        };
      },
      Decrypt(body) {
        const raw = blob(body["CiphertextBlob"], "CiphertextBlob");
        const idLength = raw[1] ?? 0;
        if (raw[0] !== BLOB_MAGIC || raw.length < 2 + idLength + 28)
          throw new KmsError("InvalidCiphertextException", "");
        const key = keys.get(raw.subarray(2, 2 + idLength).toString("ascii"));
        if (!key || key.kind !== "symmetric")
          throw new KmsError("InvalidCiphertextException", "");
        if (body["KeyId"] !== undefined && findKey(body["KeyId"]) !== key)
          throw new KmsError(
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
          );
        const rest = raw.subarray(2 + idLength);
        try {
          const decipher = createDecipheriv(
            "aes-256-gcm",
            key.material,
            rest.subarray(0, 12),
          );
          decipher.setAAD(contextAad(body["EncryptionContext"]));
          decipher.setAuthTag(rest.subarray(12, 28));
          const plaintext = Buffer.concat([
            decipher.update(rest.subarray(28)),
            decipher.final(),
          ]);
          return {
            Plaintext: plaintext.toString("base64"),
            KeyId: key.arn,
            EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
          };
        } catch {
          throw new KmsError("InvalidCiphertextException", "");
        }
      },
      Sign(body) {
        const key = findKey(body["KeyId"]);
        if (key.kind !== "rsa")
          throw new KmsError(
            "InvalidKeyUsageException",
            `${key.arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign.`,
          );
        if (body["SigningAlgorithm"] !== "RSASSA_PKCS1_V1_5_SHA_256")
          throw new KmsError(
            "InvalidKeyUsageException",
            `Algorithm ${String(body["SigningAlgorithm"])} is not supported by this fake (only RSASSA_PKCS1_V1_5_SHA_256)`,
          );
        const message = blob(body["Message"], "Message");
        const type = body["MessageType"] ?? "RAW";
        let signature: Buffer;
        if (type === "RAW") {
          if (message.length > 4096)
            throw new KmsError(
              "ValidationException",
              "Message must be at most 4096 bytes; use MessageType DIGEST",
            );
          signature = sign("sha256", message, key.privateKey);
        } else if (type === "DIGEST") {
          if (message.length !== 32)
            throw new KmsError(
              "ValidationException",
              "Digest is invalid length for algorithm RSASSA_PKCS1_V1_5_SHA_256.",
            );
          signature = privateEncrypt(
            { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING },
            Buffer.concat([SHA256_DIGEST_INFO, message]),
          );
        } else {
          throw new KmsError(
            "ValidationException",
            `MessageType ${String(type)} is invalid`,
          );
        }
        return {
          KeyId: key.arn,
          Signature: signature.toString("base64"),
          SigningAlgorithm: "RSASSA_PKCS1_V1_5_SHA_256",
        };
      },
      GetPublicKey(body) {
        const key = findKey(body["KeyId"]);
        if (key.kind !== "rsa")
          throw new KmsError(
            "UnsupportedOperationException",
            `${key.arn} is a symmetric key; it has no public key.`,
          );
        return {
          KeyId: key.arn,
          PublicKey: createPublicKey(key.privateKey)
            .export({ format: "der", type: "spki" })
            .toString("base64"),
          KeySpec: key.spec,
          CustomerMasterKeySpec: key.spec,
          KeyUsage: "SIGN_VERIFY",
          SigningAlgorithms: [
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
          ],
        };
      },
    };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const reply = (status: number, body: object) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "content-type": "application/x-amz-json-1.1",
          "content-length": Buffer.byteLength(text),
          "x-amzn-requestid": randomUUID(),
        });
        res.end(text);
      };
      const fail = (status: number, type: string, message: string) =>
        reply(status, { __type: type, message });
      if (req.method !== "POST" || req.url !== "/")
        return fail(
          404,
          "UnknownOperationException",
          `${req.method} ${req.url}`,
        );
      if (!req.headers.authorization)
        return fail(
          400,
          "MissingAuthenticationTokenException",
          "Missing Authentication Token",
        );
      const target = String(req.headers["x-amz-target"] ?? "");
      const [service, op] = target.split(".");
      const handler = op === undefined ? undefined : operations[op];
      if (service !== "TrentService" || !handler)
        return fail(
          400,
          "UnknownOperationException",
          `unknown operation ${target}`,
        );
      if (
        !String(req.headers["content-type"] ?? "").startsWith(
          "application/x-amz-json-1.1",
        )
      )
        return fail(
          400,
          "SerializationException",
          "expected application/x-amz-json-1.1",
        );
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(
          Buffer.concat(chunks).toString("utf8") || "{}",
        ) as Record<string, unknown>;
      } catch {
        return fail(400, "SerializationException", "body is not JSON");
      }
      calls.push(op as string);
      try {
        reply(200, handler(body));
      } catch (err) {
        if (err instanceof KmsError) return fail(400, err.type, err.message);
        fail(500, "KMSInternalException", String(err));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    encryptionKeyId,
    signingKeyId,
    calls,
    addSymmetricKey,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** A real SDK client pointed at the fake, with dummy credentials (signed, never checked). */
export function fakeKmsClient(fake: FakeKms): KMSClient {
  return new KMSClient({
    region: fake.region,
    endpoint: fake.url,
    credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
  });
}
