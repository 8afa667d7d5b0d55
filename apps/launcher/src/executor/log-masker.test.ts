import { describe, expect, it } from "vitest";
import { LineSplitter } from "./line-splitter.ts";
import { LogMasker } from "./log-masker.ts";

describe("LogMasker", () => {
  it("masks every occurrence of a secret", () => {
    const masker = new LogMasker(["hunter2"]);
    expect(masker.line("pw=hunter2 again hunter2")).toBe(
      "pw=***** again *****",
    );
  });

  it("masks the longest secret first", () => {
    const masker = new LogMasker(["abc", "abcdef"]);
    expect(masker.line("x abcdef y abc")).toBe("x ***** y *****");
  });

  it("treats secrets as literal text, not patterns", () => {
    const masker = new LogMasker(["a.b*c(d"]);
    expect(masker.line("a.b*c(d and axbbc(d")).toBe("***** and axbbc(d");
  });

  it("masks multi-line secrets line by line and ignores blank ones", () => {
    const masker = new LogMasker(["line-one\n\n  line-two  \n", "", "   "]);
    expect(masker.line("line-one")).toBe("*****");
    expect(masker.line("  line-two")).toBe("  *****");
    expect(masker.line("nothing here")).toBe("nothing here");
  });

  it("registers ::add-mask words without leaking them", () => {
    const masker = new LogMasker();
    expect(masker.line("before tok1")).toBe("before tok1");
    expect(masker.line("::add-mask tok1  tok-2")).toBe(
      "::add-mask *****  *****",
    );
    expect(masker.line("after tok1 tok-2")).toBe("after ***** *****");
  });

  it("accepts indented ::add-mask and ignores an empty one", () => {
    const masker = new LogMasker();
    expect(masker.line("  ::add-mask s3cr3t")).toBe("  ::add-mask *****");
    expect(masker.line("::add-mask")).toBe("::add-mask");
    expect(masker.line("x ::add-mask y")).toBe("x ::add-mask y");
  });
});

describe("LineSplitter", () => {
  function split(chunks: Buffer[], max?: number): string[] {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l), max);
    for (const c of chunks) splitter.write(c);
    splitter.end();
    return lines;
  }

  it("splits across chunks and strips CR", () => {
    expect(split([Buffer.from("a\r\nb"), Buffer.from("c\n\nd")])).toEqual([
      "a",
      "bc",
      "",
      "d",
    ]);
  });

  it("decodes UTF-8 split between chunks", () => {
    const euro = Buffer.from("€\n");
    expect(split([euro.subarray(0, 1), euro.subarray(1)])).toEqual(["€"]);
  });

  it("survives binary output", () => {
    const lines = split([Buffer.from([0xff, 0x00, 0xfe, 0x0a, 0x41])]);
    expect(lines).toEqual(["\ufffd\u0000\ufffd", "A"]);
  });

  it("caps long lines", () => {
    const lines = split([Buffer.from("x".repeat(25)), Buffer.from("\n")], 10);
    expect(lines).toEqual(["x".repeat(10), "x".repeat(10), "x".repeat(5)]);
  });
});
