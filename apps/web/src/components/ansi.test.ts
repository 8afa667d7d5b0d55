import { describe, expect, it } from "vitest";
import { parseAnsi, stripAnsi } from "./ansi.ts";

describe("parseAnsi", () => {
  it("keeps plain text as one unstyled segment", () => {
    expect(parseAnsi("hello\nworld")).toEqual([
      { text: "hello\nworld", style: {} },
    ]);
  });

  it("colours OpenTofu's plan markers and resets", () => {
    const segs = parseAnsi(
      '  \x1b[32m+\x1b[0m resource \x1b[1m"terraform_data"\x1b[0m',
    );
    expect(segs).toEqual([
      { text: "  ", style: {} },
      { text: "+", style: { fg: 2 } },
      { text: " resource ", style: {} },
      { text: '"terraform_data"', style: { bold: true } },
    ]);
  });

  it("combines attributes and handles bright, 256 and truecolour codes", () => {
    expect(parseAnsi("\x1b[1;91mA\x1b[22mB\x1b[39m")).toEqual([
      { text: "A", style: { bold: true, fg: 9 } },
      { text: "B", style: { fg: 9 } },
    ]);
    expect(parseAnsi("\x1b[38;5;196mX")[0]?.style.fg).toBe("rgb(255, 0, 0)");
    expect(parseAnsi("\x1b[38;5;4mX")[0]?.style.fg).toBe(4);
    expect(parseAnsi("\x1b[48;2;1;2;3mX")[0]?.style.bg).toBe("rgb(1, 2, 3)");
  });

  it("treats ESC[m as a reset and drops non-colour escapes", () => {
    expect(parseAnsi("\x1b[31mred\x1b[m \x1b[2Kplain\x1b]0;title\x07")).toEqual(
      [
        { text: "red", style: { fg: 1 } },
        { text: " plain", style: {} },
      ],
    );
  });

  it("normalises CRLF line endings", () => {
    expect(parseAnsi("a\r\nb")).toEqual([{ text: "a\nb", style: {} }]);
  });

  it("strips escapes for plain text", () => {
    expect(stripAnsi("\x1b[1m\x1b[32mApply complete!\x1b[0m")).toBe(
      "Apply complete!",
    );
  });
});
