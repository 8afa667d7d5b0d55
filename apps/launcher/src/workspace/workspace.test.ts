import { execFileSync } from "node:child_process";
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createTestRepo, tempDir } from "../executor/test-support.ts";
import {
  archiveProblems,
  packWorkspace,
  unpackWorkspace,
} from "./workspace-archive.ts";
import {
  cloneRepository,
  createRunDirectory,
  resolveProjectRoot,
  WorkspaceError,
  writeMountedFiles,
} from "./workspace.ts";

const cleanup: string[] = [];
function dir(prefix: string): string {
  const d = tempDir(prefix);
  cleanup.push(d);
  return d;
}
afterAll(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("cloneRepository", () => {
  it("checks out a pinned commit or the branch head", async () => {
    const repo = createTestRepo();
    cleanup.push(repo.dir);
    const first = repo.commit({ "a.txt": "one" });
    const second = repo.commit({ "a.txt": "two" });
    const clone = async (commitSha: string | null) => {
      const run = await createRunDirectory(dir("work"), "run_1-plan");
      const sha = await cloneRepository({
        url: `file://${repo.dir}`,
        branch: "main",
        commitSha,
        sourceDir: run.sourceDir,
        env: { PATH: process.env.PATH ?? "", HOME: run.homeDir },
        signal: new AbortController().signal,
        onLine: () => {},
      });
      return {
        sha,
        text: readFileSync(path.join(run.sourceDir, "a.txt"), "utf8"),
      };
    };
    expect(await clone(first)).toEqual({ sha: first, text: "one" });
    expect(await clone(null)).toEqual({ sha: second, text: "two" });
  });

  it("refuses option-like commits and branches", async () => {
    const req = {
      url: "/nonexistent",
      sourceDir: dir("src"),
      env: {},
      signal: new AbortController().signal,
      onLine: () => {},
    };
    await expect(
      cloneRepository({ ...req, branch: "main", commitSha: "--upload-pack=x" }),
    ).rejects.toThrow(WorkspaceError);
    await expect(
      cloneRepository({ ...req, branch: "-x", commitSha: null }),
    ).rejects.toThrow('invalid branch name "-x"');
  });
});

describe("writeMountedFiles", () => {
  it("writes files, secret ones 0600, replacing source files", async () => {
    const root = dir("ws");
    mkdirSync(path.join(root, "source"));
    writeFileSync(path.join(root, "source", "main.tf"), "old");
    await writeMountedFiles(root, [
      {
        relativePath: "source/main.tf",
        contentBase64: b64("new"),
        secret: false,
      },
      {
        relativePath: "secrets/deep/key",
        contentBase64: b64("k"),
        secret: true,
      },
    ]);
    expect(readFileSync(path.join(root, "source", "main.tf"), "utf8")).toBe(
      "new",
    );
    expect(statSync(path.join(root, "secrets/deep/key")).mode & 0o777).toBe(
      0o600,
    );
  });

  it("refuses paths leaving the workspace, also through symlinks", async () => {
    const root = dir("ws");
    const outside = dir("outside");
    symlinkSync(outside, path.join(root, "link"));
    const file = (relativePath: string) => [
      { relativePath, contentBase64: b64("x"), secret: false },
    ];
    await expect(writeMountedFiles(root, file("../escape"))).rejects.toThrow(
      "leaves the workspace",
    );
    await expect(writeMountedFiles(root, file("/etc/x"))).rejects.toThrow(
      "must be relative",
    );
    await expect(writeMountedFiles(root, file("link/sub/x"))).rejects.toThrow(
      "resolves outside the workspace",
    );
    // A symlink at the target itself is replaced, not followed.
    symlinkSync(path.join(outside, "target"), path.join(root, "file-link"));
    await writeMountedFiles(root, file("file-link"));
    expect(lstatSync(path.join(root, "file-link")).isFile()).toBe(true);
    expect(() => statSync(path.join(outside, "target"))).toThrow();
  });
});

describe("resolveProjectRoot", () => {
  it("accepts a subdirectory and refuses missing or escaping ones", async () => {
    const source = dir("src");
    mkdirSync(path.join(source, "infra"));
    expect(await resolveProjectRoot(source, "infra")).toBe(
      path.join(source, "infra"),
    );
    expect(await resolveProjectRoot(source, "")).toBe(source);
    await expect(resolveProjectRoot(source, "nope")).rejects.toThrow(
      "does not exist",
    );
    await expect(resolveProjectRoot(source, "../..")).rejects.toThrow(
      "leaves the workspace",
    );
    symlinkSync("/", path.join(source, "root-link"));
    await expect(resolveProjectRoot(source, "root-link")).rejects.toThrow(
      "resolves outside",
    );
  });
});

describe("workspace archive", () => {
  it("round-trips hidden dirs, modes and internal symlinks, minus excluded paths", async () => {
    const root = dir("ws");
    mkdirSync(path.join(root, "source", ".terraform", "modules"), {
      recursive: true,
    });
    writeFileSync(path.join(root, "source", ".terraform.lock.hcl"), "lock");
    writeFileSync(path.join(root, "source", "run.sh"), "#!/bin/sh\n", {
      mode: 0o755,
    });
    writeFileSync(path.join(root, "secret.txt"), "s", { mode: 0o600 });
    symlinkSync(
      "../source/run.sh",
      path.join(root, "source", ".terraform", "link"),
    );
    const archive = await packWorkspace(root, ["secret.txt"]);

    const target = dir("restored");
    await unpackWorkspace(archive, target);
    expect(
      readFileSync(path.join(target, "source", ".terraform.lock.hcl"), "utf8"),
    ).toBe("lock");
    expect(statSync(path.join(target, "source", "run.sh")).mode & 0o777).toBe(
      0o755,
    );
    expect(
      statSync(
        path.join(target, "source", ".terraform", "modules"),
      ).isDirectory(),
    ).toBe(true);
    expect(
      readlinkSync(path.join(target, "source", ".terraform", "link")),
    ).toBe("../source/run.sh");
    expect(() => statSync(path.join(target, "secret.txt"))).toThrow();
  });

  /** Archives built with GNU tar -P, which stores names exactly as given. */
  function evilArchive(build: (d: string) => string[]): Buffer {
    const d = dir("evil");
    const names = build(d);
    return execFileSync("tar", ["-czPf", "-", "-C", d, ...names]);
  }

  it("refuses entries escaping the workspace and extracts nothing", async () => {
    const dotdot = evilArchive((d) => {
      mkdirSync(path.join(d, "a"));
      writeFileSync(path.join(d, "a", "f"), "x");
      return ["a", "a/../a/f", "../" + path.basename(d) + "/a/f"];
    });
    expect((await archiveProblems(dotdot)).join("\n")).toContain(
      "path leaves the workspace",
    );

    const absoluteLink = evilArchive((d) => {
      symlinkSync("/etc", path.join(d, "etc-link"));
      return ["etc-link"];
    });
    expect(await archiveProblems(absoluteLink)).toEqual([
      "etc-link: symlink to /etc leaves the workspace",
    ]);

    const relativeLink = evilArchive((d) => {
      symlinkSync("../../outside", path.join(d, "up"));
      return ["up"];
    });
    expect(await archiveProblems(relativeLink)).toEqual([
      "up: symlink to ../../outside leaves the workspace",
    ]);

    const throughLink = evilArchive((d) => {
      mkdirSync(path.join(d, "real"));
      writeFileSync(path.join(d, "real", "f"), "x");
      symlinkSync("real", path.join(d, "l"));
      return ["l", "l/f"];
    });
    expect(await archiveProblems(throughLink)).toEqual([
      "l/f: path goes through a symlink",
    ]);

    const target = dir("restored");
    await expect(unpackWorkspace(absoluteLink, target)).rejects.toThrow(
      "refusing the workspace archive",
    );
    await expect(
      unpackWorkspace(Buffer.from("not a tarball"), target),
    ).rejects.toThrow(WorkspaceError);
  });
});
