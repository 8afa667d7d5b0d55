import { execFileSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createTestRepo, tempDir } from "../../test/executor-support.ts";
import {
  archiveProblems,
  packWorkspace,
  unpackWorkspace,
} from "./workspace-archive.ts";
import {
  cloneRepository,
  createRunDirectory,
  redactUrlCredentials,
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

  it("clones with the credentials of the URL but never shows them or keeps them in the checkout", async () => {
    // A git server over dumb HTTP that wants the token as basic auth, like GitHub's
    // `x-access-token:<installation token>`.
    const token = "ghs_cloneToken1234567890";
    const repo = createTestRepo();
    cleanup.push(repo.dir);
    const sha = repo.commit({ "a.txt": "one" });
    const root = dir("served");
    const bare = path.join(root, "acme", "infra.git");
    execFileSync("git", ["clone", "--quiet", "--bare", repo.dir, bare]);
    execFileSync("git", ["-C", bare, "update-server-info"]);
    const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
    const server = http.createServer((req, res) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="git"' });
        return res.end();
      }
      const file = path.join(
        root,
        decodeURIComponent(req.url ?? "/").split("?")[0]!,
      );
      if (
        !file.startsWith(root) ||
        !existsSync(file) ||
        !statSync(file).isFile()
      ) {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const clone = async (password: string) => {
        const run = await createRunDirectory(dir("work"), "run_2-plan");
        const lines: string[] = [];
        const result = await cloneRepository({
          url: `http://x-access-token:${password}@127.0.0.1:${port}/acme/infra.git`,
          branch: "main",
          commitSha: null,
          sourceDir: run.sourceDir,
          env: {
            PATH: process.env.PATH ?? "",
            HOME: run.homeDir,
            GIT_TERMINAL_PROMPT: "0",
            GIT_CONFIG_NOSYSTEM: "1",
          },
          signal: new AbortController().signal,
          onLine: (line) => lines.push(line),
        }).then(
          (value) => ({ value, error: null }),
          (error: Error) => ({ value: null, error }),
        );
        return { run, lines, ...result };
      };

      const ok = await clone(token);
      expect(ok.error).toBeNull();
      expect(ok.value).toBe(sha);
      expect(readFileSync(path.join(ok.run.sourceDir, "a.txt"), "utf8")).toBe(
        "one",
      );
      const config = readFileSync(
        path.join(ok.run.sourceDir, ".git", "config"),
        "utf8",
      );
      expect(config).toContain(`url = http://127.0.0.1:${port}/acme/infra.git`);
      expect(config).not.toContain(token);

      const wrong = "ghs_wrongToken0987654321";
      const refused = await clone(wrong);
      expect(refused.error).toBeInstanceOf(WorkspaceError);
      expect(refused.error?.message).toMatch(/git clone failed/);
      const shown = [refused.error?.message ?? "", ...refused.lines].join("\n");
      expect(shown).not.toContain(wrong);
      expect(refused.error?.cause).toBeUndefined();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("redacts the userinfo of every URL in a text", () => {
    expect(
      redactUrlCredentials(
        "fatal: could not read from https://x-access-token:ghs_abc@github.com/acme/infra.git and http://u@h/x",
      ),
    ).toBe(
      "fatal: could not read from https://***@github.com/acme/infra.git and http://***@h/x",
    );
    expect(redactUrlCredentials("/srv/git/acme/infra.git")).toBe(
      "/srv/git/acme/infra.git",
    );
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
