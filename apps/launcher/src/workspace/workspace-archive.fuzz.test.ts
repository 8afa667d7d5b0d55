import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  realpath,
  rm,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unpackWorkspace } from "./workspace-archive.ts";
import { WorkspaceError } from "./workspace.ts";

/**
 * Fuzzes workspace unpacking with hostile tarballs: entries named `../x`, `/abs`,
 * through symlinks, symlinks and hard links pointing out, devices and FIFOs, plus
 * truncated and bit-flipped archives. Unpacking either succeeds or fails with a
 * WorkspaceError, never another error, and nothing is ever written outside the root.
 */

interface Entry {
  name: string;
  type: "0" | "1" | "2" | "3" | "5" | "6";
  link: string;
  body: string;
}

/** One ustar header block (and body) built by hand, so any name or link can be expressed. */
function header(e: Entry): Buffer {
  const block = Buffer.alloc(512);
  const body = e.type === "0" ? Buffer.from(e.body) : Buffer.alloc(0);
  block.write(e.name.slice(0, 100), 0, "utf8");
  block.write("0000644\0", 100);
  block.write("0001750\0", 108);
  block.write("0001750\0", 116);
  block.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124);
  block.write("00000000000\0", 136);
  block.write("        ", 148);
  block.write(e.type, 156);
  block.write(e.link.slice(0, 100), 157, "utf8");
  block.write("ustar\0" + "00", 257, "binary");
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  body.copy(padded);
  return Buffer.concat([block, padded]);
}

const segment = fc.constantFrom("a", "b", "..", ".", "", "link", "x.tf", "ü");
const name = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join("/")),
  fc.constantFrom(
    "/etc/passwd",
    "../outside/pwned",
    "link/pwned",
    "./a/../../x",
  ),
);
const entry: fc.Arbitrary<Entry> = fc.record({
  name,
  type: fc.constantFrom("0", "0", "0", "1", "2", "3", "5", "6"),
  link: fc.oneof(name, fc.constantFrom("/", "/tmp", "..", "../..", "a")),
  body: fc.string({ maxLength: 64 }),
});
const archive = fc
  .tuple(
    fc.array(entry, { minLength: 1, maxLength: 6 }),
    fc.constantFrom("none", "truncate", "flip"),
    fc.nat(),
    fc.boolean(),
  )
  .map(([entries, damage, at, gzip]) => {
    let tar: Buffer = Buffer.concat([
      ...entries.map(header),
      Buffer.alloc(1024),
    ]);
    if (gzip) tar = gzipSync(tar);
    if (damage === "truncate") tar = tar.subarray(0, at % tar.length);
    if (damage === "flip" && tar.length > 0) {
      tar = Buffer.from(tar);
      const i = at % tar.length;
      tar[i] = (tar[i] ?? 0) ^ 0xff;
    }
    return tar;
  });

let base: string;
beforeAll(async () => {
  base = await realpath(
    await mkdtemp(path.join(os.tmpdir(), "stackyard-tarfuzz-")),
  );
});
afterAll(() => rm(base, { recursive: true, force: true }));

/** Special files under `dir`, and symlinks whose target leaves `root`. */
async function escapes(dir: string, root: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) found.push(...(await escapes(p, root)));
    else if (st.isSymbolicLink()) {
      const target = path.resolve(path.dirname(p), await readlink(p));
      if (target !== root && !target.startsWith(`${root}/`))
        found.push(`${p}: symlink to ${target}`);
    } else if (!st.isFile()) found.push(`${p}: special file`);
  }
  return found;
}

describe("workspace unpacking under hostile archives", () => {
  it("refuses or extracts inside the root, never writing outside it", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(archive, async (tar) => {
        const dir = path.join(base, String(n++));
        const root = path.join(dir, "root");
        await rm(dir, { recursive: true, force: true });
        await mkdir(root, { recursive: true });
        const err = await unpackWorkspace(tar, root).then(
          () => null,
          (e: unknown) => e,
        );
        if (err !== null) expect(err).toBeInstanceOf(WorkspaceError);
        // Nothing but the root itself in the run's directory, nothing special inside.
        expect(await readdir(dir)).toEqual(["root"]);
        expect(await escapes(root, root)).toEqual([]);
        await rm(dir, { recursive: true, force: true });
      }),
      { numRuns: 3000, interruptAfterTimeLimit: 15_000 },
    );
  }, 60_000);
});
