import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LookupFunction } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEgressGuard,
  EgressDeniedError,
  forbiddenReason,
  parseEgressAllowEntry,
} from "./egress.ts";

let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    if (req.url === "/slow") return;
    res.setHeader("x-seen-method", req.method ?? "");
    res.statusCode = req.url === "/missing" ? 404 : 200;
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => res.end(JSON.stringify({ got: body })));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

/** A resolver answering from a table, for names that must resolve to a given address. */
function fakeLookup(answer: (host: string) => string): LookupFunction {
  return ((host: string, _opts: unknown, cb: (...a: unknown[]) => void) => {
    const address = answer(host);
    cb(null, [{ address, family: address.includes(":") ? 6 : 4 }]);
  }) as unknown as LookupFunction;
}

describe("forbiddenReason", () => {
  it("refuses loopback, unspecified, link-local and metadata addresses", () => {
    for (const a of [
      "127.0.0.1",
      "127.1.2.3",
      "0.0.0.0",
      "169.254.169.254",
      "100.100.100.200",
      "::1",
      "::",
      "fe80::1",
      "fd00:ec2::254",
      "::ffff:127.0.0.1",
      "::ffff:a9fe:a9fe",
      "64:ff9b::169.254.169.254",
    ])
      expect(forbiddenReason(a), a).not.toBeNull();
  });

  it("lets public and private network addresses through", () => {
    for (const a of [
      "93.184.216.34",
      "10.0.0.5",
      "192.168.1.1",
      "2606:4700::1",
    ])
      expect(forbiddenReason(a), a).toBeNull();
  });
});

describe("parseEgressAllowEntry", () => {
  it("reads hosts, addresses and CIDRs and names what is wrong", () => {
    expect(parseEgressAllowEntry("127.0.0.1/32")).toEqual({
      kind: "subnet",
      net: "127.0.0.1",
      prefix: 32,
      family: 4,
    });
    expect(parseEgressAllowEntry("::1")).toMatchObject({ prefix: 128 });
    expect(parseEgressAllowEntry("GitLab.internal")).toEqual({
      kind: "host",
      host: "gitlab.internal",
    });
    expect(parseEgressAllowEntry("127.0.0.1/33")).toContain("0-32");
    expect(parseEgressAllowEntry("http://x")).toContain("neither a hostname");
  });
});

describe("the guarded fetch", () => {
  it("refuses loopback without an allow entry, and never connects", async () => {
    const guard = createEgressGuard({ allow: [] });
    const before = hits;
    await expect(guard.fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow(
      EgressDeniedError,
    );
    await expect(guard.fetch(`http://[::1]:${port}/`)).rejects.toThrow(
      /loopback/,
    );
    await expect(
      guard.fetch(`http://[::ffff:127.0.0.1]:${port}/`),
    ).rejects.toThrow(/STACKYARD_EGRESS_ALLOW/);
    await expect(guard.fetch(`http://localhost:${port}/`)).rejects.toThrow(
      /localhost \((127\.0\.0\.1|::1)\)/,
    );
    await expect(guard.fetch("file:///etc/passwd")).rejects.toThrow(
      /only http and https/,
    );
    expect(hits).toBe(before);
  });

  it("calls an allowed address and returns the whole answer", async () => {
    const guard = createEgressGuard({ allow: ["127.0.0.1/32"] });
    const res = await guard.fetch(`http://127.0.0.1:${port}/x`, {
      method: "POST",
      body: "hello",
      headers: { "content-type": "text/plain" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-seen-method")).toBe("POST");
    expect(await res.json()).toEqual({ got: "hello" });
    const missing = await guard.fetch(`http://127.0.0.1:${port}/missing`);
    expect(missing.status).toBe(404);
  });

  it("allows a listed hostname whatever it resolves to", async () => {
    const guard = createEgressGuard({
      allow: ["fake-gitlab.test"],
      lookup: fakeLookup(() => "127.0.0.1"),
    });
    const res = await guard.fetch(`http://fake-gitlab.test:${port}/`);
    expect(res.status).toBe(200);
  });

  it("checks the address connected to, so DNS rebinding is refused", async () => {
    let answers = 0;
    // Public when checked at create time, loopback when the request connects.
    const guard = createEgressGuard({
      allow: [],
      lookup: fakeLookup(() =>
        answers++ === 0 ? "93.184.216.34" : "127.0.0.1",
      ),
    });
    const before = hits;
    await expect(
      guard.checkUrl(`http://rebind.test:${port}/`),
    ).resolves.toBeUndefined();
    await expect(guard.fetch(`http://rebind.test:${port}/`)).rejects.toThrow(
      /rebind\.test \(127\.0\.0\.1\) are refused/,
    );
    expect(hits).toBe(before);
  });

  it("refuses forbidden URLs at check time with the reason", async () => {
    const guard = createEgressGuard({ allow: [] });
    await expect(
      guard.checkUrl("http://169.254.169.254/latest/meta-data"),
    ).rejects.toThrow(/link-local/);
    await expect(guard.checkUrl("http://localhost:8080")).rejects.toThrow(
      /loopback/,
    );
    await expect(
      guard.checkUrl("https://does-not-resolve.invalid"),
    ).resolves.toBeUndefined();
  });

  it("gives up at the caller's deadline with its TimeoutError", async () => {
    const guard = createEgressGuard({ allow: ["127.0.0.0/8"] });
    const err = await guard
      .fetch(`http://127.0.0.1:${port}/slow`, {
        signal: AbortSignal.timeout(100),
      })
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe("TimeoutError");
  });
});

describe("resolveHost (for clients that connect themselves)", () => {
  it("checks literals and names and returns the address to pin", async () => {
    const guard = createEgressGuard({
      allow: ["10.9.8.7/32"],
      lookup: fakeLookup((host) =>
        host === "meta.test" ? "169.254.169.254" : "203.0.113.9",
      ),
    });
    await expect(guard.resolveHost("127.0.0.1")).rejects.toThrow(/loopback/);
    await expect(guard.resolveHost("[::1]")).rejects.toThrow(/loopback/);
    await expect(guard.resolveHost("meta.test")).rejects.toBeInstanceOf(
      EgressDeniedError,
    );
    expect(await guard.resolveHost("git.test")).toEqual({
      address: "203.0.113.9",
      family: 4,
    });
    expect(await guard.resolveHost("[2001:db8::5]")).toEqual({
      address: "2001:db8::5",
      family: 6,
    });
    expect(await guard.resolveHost("10.9.8.7")).toMatchObject({
      address: "10.9.8.7",
    });
  });
});
