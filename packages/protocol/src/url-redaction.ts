/**
 * `text` with the userinfo of every URL in it replaced by `***`
 * (`https://user:secret@host/x` → `https://***@host/x`), also inside longer text such as
 * a git error message. Server and launcher both redact clone URLs, which may carry a
 * token (`https://x-access-token:<token>@github.com/...`).
 *
 * Linear in the length of `text`, whatever it holds: it is applied to repository strings
 * users choose. (The regex it replaces, `([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@`, backtracked
 * quadratically: 65 KB of letters took ~20 s.) Each `://` is visited once; the scheme
 * scan before it and the userinfo scan after it cannot cross another `://`, so every
 * character is read a bounded number of times.
 */
export function redactUrlCredentials(text: string): string {
  const parts: string[] = [];
  let copied = 0;
  let from = 0;
  for (;;) {
    const sep = text.indexOf("://", from);
    if (sep < 0) break;
    from = sep + 3;
    if (!hasScheme(text, sep)) continue;
    let end = from;
    while (end < text.length && !endsUserinfo(text.charCodeAt(end))) end++;
    if (end === from || text[end] !== "@") continue;
    parts.push(text.slice(copied, from), "***");
    copied = end;
    from = end + 1;
  }
  if (copied === 0) return text;
  parts.push(text.slice(copied));
  return parts.join("");
}

/** Whether the characters before `://` at `sep` end with a URL scheme (a letter, then [a-z0-9+.-]). */
function hasScheme(text: string, sep: number): boolean {
  let hasLetter = false;
  for (let i = sep - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    const letter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
    const other = (c >= 48 && c <= 57) || c === 43 || c === 46 || c === 45;
    if (letter) hasLetter = true;
    else if (!other) break;
  }
  return hasLetter;
}

function endsUserinfo(c: number): boolean {
  return c === 47 || c === 64 || isWhitespace(c);
}

/** The characters of the regex class `\s`. */
function isWhitespace(c: number): boolean {
  return (
    (c >= 9 && c <= 13) ||
    c === 32 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}
