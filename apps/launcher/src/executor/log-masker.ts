export const MASK = "*****";

const ADD_MASK = /^\s*::add-mask(?:\s+(.*))?$/;

/**
 * Replaces secrets in log lines with `*****`. Secrets come from the run (secret env
 * values, secret file lines, state credentials) and from any process printing
 * `::add-mask v1 v2` (Spacelift's runtime command): each whitespace-separated word is
 * masked from that line on, the `::add-mask` line itself included.
 *
 * Matching is by substring, longest secret first, so a secret containing another is
 * masked whole. Multi-line values are masked line by line, since logs arrive by line.
 */
export class LogMasker {
  readonly #secrets = new Set<string>();
  #pattern: RegExp | null = null;

  constructor(secrets: Iterable<string> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Adds a secret; each non-blank line of it is masked. */
  add(secret: string): void {
    for (const line of secret.split(/\r?\n/)) {
      const value = line.trim();
      if (value === "" || this.#secrets.has(value)) continue;
      this.#secrets.add(value);
      this.#pattern = null;
    }
  }

  /** Masks one line, first registering the words of an `::add-mask` line. */
  line(text: string): string {
    const addMask = ADD_MASK.exec(text);
    if (addMask)
      for (const word of (addMask[1] ?? "").split(/\s+/)) this.add(word);
    return this.mask(text);
  }

  /** Masks a string without looking for `::add-mask`. */
  mask(text: string): string {
    if (this.#secrets.size === 0) return text;
    this.#pattern ??= new RegExp(
      [...this.#secrets]
        .sort((a, b) => b.length - a.length)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("|"),
      "g",
    );
    return text.replace(this.#pattern, MASK);
  }
}
