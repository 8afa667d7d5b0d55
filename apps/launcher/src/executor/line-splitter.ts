import { StringDecoder } from "node:string_decoder";

/** Longest line passed on whole; longer ones are cut into pieces of this size. */
export const MAX_LINE_CHARS = 64 * 1024;

/**
 * Turns a byte stream into lines: UTF-8 decoded across chunk boundaries (invalid bytes
 * become U+FFFD, so binary output cannot break the log), `\n` or `\r\n` ended, and cut
 * at `maxChars` so a process printing without newlines cannot grow memory unbounded.
 * A secret straddling such a cut is not masked; real secrets are far shorter than a cut.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  #partial = "";

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars = MAX_LINE_CHARS,
  ) {}

  write(chunk: Buffer): void {
    this.#push(this.#decoder.write(chunk));
  }

  /** Flushes the last unterminated line, if any. */
  end(): void {
    this.#push(this.#decoder.end());
    if (this.#partial !== "") this.#emit(this.#partial);
    this.#partial = "";
  }

  #push(text: string): void {
    const joined = this.#partial + text;
    let start = 0;
    let newline: number;
    while ((newline = joined.indexOf("\n", start)) !== -1) {
      this.#emit(joined.slice(start, newline));
      start = newline + 1;
    }
    let buffer = joined.slice(start);
    while (buffer.length > this.maxChars) {
      this.onLine(buffer.slice(0, this.maxChars));
      buffer = buffer.slice(this.maxChars);
    }
    this.#partial = buffer;
  }

  #emit(line: string): void {
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    for (let i = 0; i < text.length; i += this.maxChars)
      this.onLine(text.slice(i, i + this.maxChars));
    if (text.length === 0) this.onLine("");
  }
}
