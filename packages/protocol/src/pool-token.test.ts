import { describe, expect, it } from "vitest";
import {
  decodePoolToken,
  encodePoolToken,
  PoolTokenError,
  type PoolToken,
} from "./pool-token.ts";

const token: PoolToken = {
  serverUrl: "https://stackyard.example.com",
  brokerEndpoint: "mqtts://mqtt.example.com:1984",
  poolId: "wp_01j00000000000000000000000",
  credential: "c2VjcmV0LXNlY3JldC1zZWNyZXQ",
  namespace: "stackyard",
};

describe("pool token", () => {
  it("round-trips", () => {
    expect(decodePoolToken(encodePoolToken(token))).toEqual(token);
  });

  it("tolerates surrounding whitespace and URL-safe base64", () => {
    const encoded = encodePoolToken(token);
    const urlSafe = encoded
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replace(/=+$/, "");
    expect(decodePoolToken(`  ${urlSafe}\n`)).toEqual(token);
  });

  it("explains garbage", () => {
    expect(() => decodePoolToken("")).toThrow("pool token is empty");
    expect(() => decodePoolToken("not a token!")).toThrow(/not base64/);
    expect(() =>
      decodePoolToken(Buffer.from("hello").toString("base64")),
    ).toThrow(/does not decode to JSON/);
    expect(() => decodePoolToken(encodePoolToken(token).slice(0, 20))).toThrow(
      PoolTokenError,
    );
  });

  it("names missing and invalid fields without echoing the credential", () => {
    const raw = Buffer.from(
      JSON.stringify({
        v: 1,
        ...token,
        brokerEndpoint: "mqtt.example.com",
        credential: "short",
      }),
    ).toString("base64");
    let message = "";
    try {
      decodePoolToken(raw);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("brokerEndpoint");
    expect(message).toContain("credential");
    expect(message).not.toContain("short");
  });

  it("rejects an unknown token version", () => {
    const raw = Buffer.from(JSON.stringify({ ...token, v: 9 })).toString(
      "base64",
    );
    expect(() => decodePoolToken(raw)).toThrow(/version 9 is not supported/);
  });

  it("refuses to encode an invalid token", () => {
    expect(() => encodePoolToken({ ...token, poolId: "a/b" })).toThrow(
      /poolId/,
    );
  });
});
