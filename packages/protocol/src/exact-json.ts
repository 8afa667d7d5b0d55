import {
  isLosslessNumber,
  LosslessNumber,
  parse,
  stringify,
} from "lossless-json";

/**
 * JSON that keeps every number as written, for documents that reach OPA (policy inputs,
 * simulations, plan documents from worker to server). `JSON.parse` turns each number
 * into a double: `101.00` comes back as `101` (an integer to OPA, so a policy's
 * `sprintf("%.2f", ...)` fails) and integers above 2^53 lose digits
 * (`1700000000123456789` becomes `1700000000123456800`), which is every nanosecond
 * timestamp.
 *
 * `parseExact` keeps a number as a plain `number` when JavaScript writes that double
 * back as the same text (`42`, `0.5`, `-3`), and as a `LosslessNumber` holding the
 * source text otherwise (`101.00`, `1e3`, 19-digit integers). `stringifyExact` writes
 * numbers, those and `bigint` exactly, so a document read and written again carries
 * byte for byte the numbers it came with. Code that computes with a value must expect
 * LosslessNumber where a number's text is unusual.
 */

export { isLosslessNumber, LosslessNumber };

export function parseExact(text: string): unknown {
  return parse(text, null, (value) => {
    const n = Number(value);
    return String(n) === value ? n : new LosslessNumber(value);
  });
}

/** JSON text of `value`; numbers, `bigint` and LosslessNumber written exactly. */
export function stringifyExact(value: unknown): string {
  const text = stringify(value);
  if (text === undefined)
    throw new TypeError("the value has no JSON representation");
  return text;
}

/** Unix nanoseconds of a date as an exact integer (0 for an unknown time). */
export function unixNanos(d: Date | null): bigint {
  return d ? BigInt(d.getTime()) * 1_000_000n : 0n;
}
