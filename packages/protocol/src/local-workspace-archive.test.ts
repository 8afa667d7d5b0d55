import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { create } from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localWorkspaceProblems } from "./local-workspace-archive.ts";

const ID = "lws_01jabcdefghjkmnpqrstvwxyz0";
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "lws-archive-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Packs `entries` (relative to a fresh root) into a tar, gzipped unless `plain`. */
async function pack(
  files: Record<string, string | { symlink: string }>,
  opts: { gzip?: boolean } = {},
): Promise<Buffer> {
  const root = await mkdtemp(path.join(dir, "root-"));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    if (typeof content === "string")
      await writeFile(path.join(root, name), content);
    else await symlink(content.symlink, path.join(root, name));
  }
  const top = [...new Set(Object.keys(files).map((f) => f.split("/")[0]!))];
  const chunks: Buffer[] = [];
  for await (const c of create(
    { gzip: opts.gzip ?? true, cwd: root, portable: true },
    top,
  ))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("localWorkspaceProblems", () => {
  it("accepts files, directories and symlinks that stay inside <id>/", async () => {
    const archive = await pack({
      [`${ID}/main.tf`]: "x",
      [`${ID}/modules/a/main.tf`]: "y",
      [`${ID}/link.tf`]: { symlink: "modules/a/main.tf" },
    });
    expect(await localWorkspaceProblems(archive, ID)).toEqual([]);
  });

  it("refuses a plain tar, garbage and an empty archive", async () => {
    const plain = await pack({ [`${ID}/main.tf`]: "x" }, { gzip: false });
    expect(await localWorkspaceProblems(plain, ID)).toContain(
      "not gzip-compressed",
    );
    const garbage = await localWorkspaceProblems(gzipSync("hello"), ID);
    expect(garbage.join()).toMatch(/not a gzip-compressed tar|empty/);
    const zeros = await localWorkspaceProblems(
      gzipSync(Buffer.alloc(1024)),
      ID,
    );
    expect(zeros.join()).toMatch(/empty|Unrecognized archive format/);
  });

  it("refuses entries of another top-level directory", async () => {
    const archive = await pack({
      [`${ID}/main.tf`]: "x",
      "lws_other/main.tf": "y",
    });
    expect((await localWorkspaceProblems(archive, ID)).join()).toContain(
      `must be under the top-level directory ${ID}/`,
    );
  });

  it("refuses symlinks leaving <id>/, even to the archive's root", async () => {
    for (const target of ["../../etc/passwd", "..", "/etc/passwd"]) {
      const archive = await pack({
        [`${ID}/main.tf`]: "x",
        [`${ID}/evil`]: { symlink: target },
      });
      expect(
        (await localWorkspaceProblems(archive, ID)).join(),
        target,
      ).toContain("leaves the workspace");
    }
  });

  it("stops at the entry and size limits", async () => {
    const archive = await pack({
      [`${ID}/a.tf`]: "a".repeat(600),
      [`${ID}/b.tf`]: "b".repeat(600),
    });
    expect(
      (
        await localWorkspaceProblems(archive, ID, { maxUnpackedBytes: 1000 })
      )[0],
    ).toBe("more than 1000 bytes once extracted");
    expect(
      (await localWorkspaceProblems(archive, ID, { maxEntries: 2 }))[0],
    ).toBe("more than 2 entries");
  });
});
