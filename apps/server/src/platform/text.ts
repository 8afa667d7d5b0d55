/**
 * String helpers for text users choose. Each is linear in the input: a regex such as
 * `/\/+$/` backtracks quadratically on a long run of the character followed by
 * anything else (50 000 slashes and an "x" take seconds), so user strings are trimmed
 * with these instead.
 */

/** `text` without any trailing run of `char` (one character). */
export function trimTrailing(text: string, char: string): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === char) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** `text` without any leading run of `char` (one character). */
export function trimLeading(text: string, char: string): string {
  let start = 0;
  while (start < text.length && text[start] === char) start++;
  return start === 0 ? text : text.slice(start);
}
