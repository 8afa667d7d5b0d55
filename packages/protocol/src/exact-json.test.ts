import { describe, expect, it } from "vitest";
import {
  isLosslessNumber,
  parseExact,
  stringifyExact,
  unixNanos,
} from "./exact-json.ts";

describe("exact JSON", () => {
  it("writes back every number as it was read", () => {
    const text =
      '{"cost":101.00,"id":1700000000123456789,"small":42,"half":0.5,"exp":1e3,"neg":-7,"list":[1.10,null,"x"]}';
    expect(stringifyExact(parseExact(text))).toBe(text);
    // JSON.parse does not: the reason this exists.
    expect(JSON.stringify(JSON.parse(text))).not.toBe(text);
  });

  it("keeps ordinary numbers as numbers and the others as their text", () => {
    const doc = parseExact('{"n":42,"d":101.00,"big":1700000000123456789}') as {
      n: unknown;
      d: unknown;
      big: unknown;
    };
    expect(doc.n).toBe(42);
    expect(isLosslessNumber(doc.d) && doc.d.toString()).toBe("101.00");
    expect(isLosslessNumber(doc.big) && doc.big.toString()).toBe(
      "1700000000123456789",
    );
  });

  it("writes bigint nanoseconds exactly", () => {
    const at = new Date(1767225600123);
    // As a double this product is 1767225600122999808.
    expect(unixNanos(at)).toBe(1767225600123000000n);
    expect(stringifyExact({ t: unixNanos(at), none: unixNanos(null) })).toBe(
      '{"t":1767225600123000000,"none":0}',
    );
  });

  it("refuses what is not JSON, and keeps __proto__ an ordinary key", () => {
    expect(() => parseExact("{bad")).toThrow(/position 1/);
    const doc = parseExact('{"__proto__":{"polluted":true}}') as object;
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});
