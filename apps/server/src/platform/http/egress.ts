import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { AppError } from "../errors.ts";

/**
 * The egress guard: every HTTP request the server makes on a user's behalf, to a URL a
 * user chose (VCS provider APIs; webhooks and Slack later), goes through `guard.fetch`.
 * It refuses loopback, unspecified, link-local and cloud metadata addresses, so a user
 * who may set an `apiUrl` cannot make the server call its own admin endpoints, OPA, the
 * database or the instance metadata service (and send it a token). Private ranges
 * (10/8, 192.168/16, ...) stay reachable: self-hosted GitLab lives there.
 *
 * The check runs on the address actually connected to: the request's DNS lookup is this
 * module's, which resolves and checks in one step, so a name that resolves to a public
 * address when checked and to 127.0.0.1 when connecting (DNS rebinding) is refused.
 * Redirects are never followed. `STACKYARD_EGRESS_ALLOW` lists exceptions: hostnames
 * (matched exactly, case-insensitively) and addresses or CIDRs (`127.0.0.1/32`).
 */

export class EgressDeniedError extends AppError {
  override readonly code = "EGRESS_DENIED";
  override readonly httpStatus = 403;
}

const FORBIDDEN_V4: ReadonlyArray<[string, number, string]> = [
  ["0.0.0.0", 8, "an unspecified address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local (metadata) address"],
  ["100.100.100.200", 32, "a cloud metadata address"],
  ["255.255.255.255", 32, "the broadcast address"],
];
const FORBIDDEN_V6: ReadonlyArray<[string, number, string]> = [
  ["::", 128, "an unspecified address"],
  ["::1", 128, "a loopback address"],
  ["fe80::", 10, "a link-local address"],
  ["fd00:ec2::254", 128, "a cloud metadata address"],
];

/** Why `address` (an IP literal) may not be reached, or null when it may. */
export function forbiddenReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return "not an IP address";
  const embedded = family === 6 ? embeddedIpv4(address) : null;
  if (embedded) return forbiddenReason(embedded);
  const rules = family === 4 ? FORBIDDEN_V4 : FORBIDDEN_V6;
  const type = family === 4 ? "ipv4" : "ipv6";
  for (const [net, prefix, why] of rules) {
    const list = new BlockList();
    list.addSubnet(net, prefix, type);
    if (list.check(address, type)) return why;
  }
  return null;
}

/**
 * The IPv4 address an IPv6 one stands for: IPv4-mapped `::ffff:a.b.c.d` (in either
 * notation) and NAT64 `64:ff9b::/96`, both of which reach the IPv4 host.
 */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted?.[1]) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(
    lower,
  );
  if (!hex?.[1] || !hex[2]) return null;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** One STACKYARD_EGRESS_ALLOW entry: a hostname, an address, or a CIDR. */
export type EgressAllowEntry =
  | { kind: "host"; host: string }
  | { kind: "subnet"; net: string; prefix: number; family: 4 | 6 };

/** Parses one entry, or returns the reason it is not one. */
export function parseEgressAllowEntry(raw: string): EgressAllowEntry | string {
  const entry = raw.trim();
  const slash = entry.indexOf("/");
  const net = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(net);
  if (family === 4 || family === 6) {
    const max = family === 4 ? 32 : 128;
    const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max)
      return `"${entry}": the prefix length must be 0-${max}`;
    return { kind: "subnet", net, prefix, family };
  }
  if (
    slash >= 0 ||
    !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(
      entry,
    ) ||
    entry.length > 253
  )
    return `"${entry}" is neither a hostname nor an IP address or CIDR (e.g. 127.0.0.1/32)`;
  return { kind: "host", host: entry.toLowerCase() };
}

export interface EgressGuard {
  /**
   * Refuses (EgressDeniedError) a URL that is not http(s), or whose host is or resolves
   * to a forbidden address not allowed by the config. A name that does not resolve
   * passes: the connect-time check still applies. For create/update-time validation.
   */
  checkUrl(url: string): Promise<void>;
  /** `fetch` for one request and its whole answer, with the guard at connect time. */
  fetch: typeof fetch;
  /**
   * Resolves `host` (a name or an IP literal, IPv6 with or without brackets) and checks
   * every answer; the address returned is the one a caller must then connect to (pin
   * it), so the check and the connection see the same address. For clients that do
   * their own connecting (git). Throws EgressDeniedError, or the resolver's error.
   */
  resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }>;
}

export interface EgressGuardOptions {
  /** STACKYARD_EGRESS_ALLOW, already validated by the config. */
  allow: readonly string[];
  /** Answers larger than this fail (default 32 MiB). */
  maxResponseBytes?: number;
  /** For tests: resolves names instead of the system resolver. */
  lookup?: LookupFunction;
}

export function createEgressGuard(opts: EgressGuardOptions): EgressGuard {
  const hosts = new Set<string>();
  const allowed = new BlockList();
  for (const raw of opts.allow) {
    const entry = parseEgressAllowEntry(raw);
    if (typeof entry === "string")
      throw new Error(`STACKYARD_EGRESS_ALLOW: ${entry}`);
    if (entry.kind === "host") hosts.add(entry.host);
    else
      allowed.addSubnet(
        entry.net,
        entry.prefix,
        entry.family === 4 ? "ipv4" : "ipv6",
      );
  }
  const resolve = opts.lookup ?? (dnsLookup as LookupFunction);
  const maxBytes = opts.maxResponseBytes ?? 32 * 1024 * 1024;

  /** Why connecting to `address` for `host` is refused, or null. */
  function refusal(host: string, address: string): string | null {
    if (hosts.has(host.toLowerCase())) return null;
    const family = isIP(address);
    if (family && allowed.check(address, family === 4 ? "ipv4" : "ipv6"))
      return null;
    const embedded = family === 6 ? embeddedIpv4(address) : null;
    if (embedded && allowed.check(embedded, "ipv4")) return null;
    const why = forbiddenReason(address);
    if (!why) return null;
    const shown = address === host ? address : `${host} (${address})`;
    return `calls to ${shown} are refused: it is ${why}; list it in STACKYARD_EGRESS_ALLOW (e.g. ${family === 6 ? `${address}/128` : `${address}/32`}) to allow it`;
  }

  /** The lookup every guarded request connects through: resolve, then check every answer. */
  const guardedLookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const list = addresses as unknown as LookupAddress[];
      for (const a of list) {
        const why = refusal(hostname, a.address);
        if (why) return callback(new EgressDeniedError(why), "", 0);
      }
      if (options.all) return callback(null, list as never, 0);
      const first = list[0];
      if (!first)
        return callback(new Error(`${hostname} has no address`), "", 0);
      callback(null, first.address, first.family);
    });
  };

  function targetOf(input: string | URL): URL {
    const url = new URL(String(input));
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new EgressDeniedError(
        `only http and https URLs may be called, not ${url.protocol}`,
      );
    return url;
  }

  /** The host as an IP literal (brackets removed), or null for a name. */
  function literalOf(url: URL): string | null {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    return isIP(host) ? host : null;
  }

  return {
    async checkUrl(raw) {
      let url: URL;
      try {
        url = targetOf(raw);
      } catch (err) {
        if (err instanceof EgressDeniedError) throw err;
        throw new EgressDeniedError(`"${raw}" is not a URL`);
      }
      const literal = literalOf(url);
      const addresses = literal
        ? [literal]
        : await new Promise<string[]>((done) =>
            resolve(url.hostname, { all: true }, (err, found) =>
              done(
                err
                  ? []
                  : (found as unknown as LookupAddress[]).map((a) => a.address),
              ),
            ),
          );
      for (const address of addresses) {
        const why = refusal(literal ?? url.hostname, address);
        if (why) throw new EgressDeniedError(why);
      }
    },

    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      if (input instanceof Request)
        throw new TypeError("the egress guard takes a URL, not a Request");
      const url = targetOf(input);
      const literal = literalOf(url);
      if (literal) {
        // Node connects to an IP literal without a lookup: check it here.
        const why = refusal(literal, literal);
        if (why) throw new EgressDeniedError(why);
      }
      return request(url, init ?? {}, guardedLookup, maxBytes);
    }) as typeof fetch,

    async resolveHost(raw) {
      const host = raw.replace(/^\[|\]$/g, "");
      const family = isIP(host);
      if (family) {
        const why = refusal(host, host);
        if (why) throw new EgressDeniedError(why);
        return { address: host, family: family === 4 ? 4 : 6 };
      }
      return new Promise((done, fail) =>
        guardedLookup(host, { all: false }, (err, address, fam) =>
          err
            ? fail(err)
            : done({ address: String(address), family: fam === 6 ? 6 : 4 }),
        ),
      );
    },
  };
}

/** One request with Node's http(s), answered as a WHATWG Response once fully read. */
function request(
  url: URL,
  init: RequestInit,
  lookup: LookupFunction,
  maxBytes: number,
): Promise<Response> {
  const body = init.body;
  if (
    body !== undefined &&
    body !== null &&
    typeof body !== "string" &&
    !(body instanceof Uint8Array)
  )
    throw new TypeError("the egress guard sends string or byte bodies only");
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();
  const headers = new Headers(init.headers);
  const client = url.protocol === "https:" ? https : http;
  return new Promise<Response>((resolve, reject) => {
    const req = client.request(url, {
      method: init.method ?? "GET",
      headers: Object.fromEntries(headers.entries()),
      lookup,
    });
    const onAbort = () => {
      req.destroy();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = () => signal?.removeEventListener("abort", onAbort);
    req.on("error", (err) => {
      settle();
      reject(err);
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.destroy(
            new Error(`the answer of ${url.host} exceeds ${maxBytes} bytes`),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on("error", (err) => {
        settle();
        reject(err);
      });
      res.on("end", () => {
        settle();
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599)
          return reject(new Error(`${url.host} answered status ${status}`));
        const out = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value])
            out.append(name, v);
        }
        const noBody = status === 204 || status === 205 || status === 304;
        resolve(
          new Response(noBody ? null : Buffer.concat(chunks), {
            status,
            statusText: res.statusMessage ?? "",
            headers: out,
          }),
        );
      });
    });
    req.end(body ?? undefined);
  });
}
