/**
 * The planned workspace, carried from the plan phase to the apply phase (possibly on
 * another worker) as a tar.gz of the workspace root, like Spacelift's workspace upload.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { create, Parser, Unpack, type ReadEntry } from "tar";
import { WorkspaceError } from "./workspace.ts";

/**
 * Packs everything under `workspaceRoot` (source, `.terraform`, lock file, saved plan,
 * hidden files) except the `exclude` paths, given relative to the root. Symlinks are
 * stored as symlinks; owners are not stored.
 */
export async function packWorkspace(
  workspaceRoot: string,
  exclude: readonly string[] = [],
): Promise<Buffer> {
  const excluded = new Set(exclude.map((p) => path.posix.normalize(p)));
  const entries = await readdir(workspaceRoot);
  const pack = create(
    {
      gzip: true,
      cwd: workspaceRoot,
      portable: true,
      filter: (p: string) => !excluded.has(path.posix.normalize(p)),
    },
    entries,
  );
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const ALLOWED_TYPES = new Set([
  "File",
  "OldFile",
  "ContiguousFile",
  "Directory",
  "SymbolicLink",
  "Link",
]);

function isOutside(normalized: string): boolean {
  return (
    normalized === ".." ||
    normalized.startsWith("../") ||
    path.posix.isAbsolute(normalized)
  );
}

/**
 * Every reason `archive` must not be extracted: entries with absolute paths or `..`,
 * devices and FIFOs, symlinks or hard links pointing outside the root, and entries
 * placed below a symlink of the archive (writing through it would make a lexically
 * safe path land elsewhere). Checked up front so a bad archive extracts nothing.
 */
export async function archiveProblems(archive: Buffer): Promise<string[]> {
  const problems: string[] = [];
  const symlinks = new Set<string>();
  const check = (entry: ReadEntry) => {
    const name = entry.path;
    const normalized = path.posix.normalize(name).replace(/\/$/, "");
    if (!ALLOWED_TYPES.has(entry.type))
      return problems.push(`${name}: entry type ${entry.type} not allowed`);
    if (isOutside(normalized) || normalized.split("/").includes(".."))
      return problems.push(`${name}: path leaves the workspace`);
    const parts = normalized.split("/");
    for (let i = 1; i < parts.length; i++)
      if (symlinks.has(parts.slice(0, i).join("/")))
        return problems.push(`${name}: path goes through a symlink`);
    if (entry.type === "SymbolicLink") {
      const target = entry.linkpath ?? "";
      const resolved = path.posix.normalize(
        path.posix.join(path.posix.dirname(normalized), target),
      );
      if (path.posix.isAbsolute(target) || isOutside(resolved))
        return problems.push(
          `${name}: symlink to ${target} leaves the workspace`,
        );
      symlinks.add(normalized);
    }
    if (entry.type === "Link") {
      const target = path.posix.normalize(entry.linkpath ?? "");
      if (isOutside(target) || target.split("/").includes(".."))
        return problems.push(
          `${name}: hard link to ${target} leaves the workspace`,
        );
    }
    return 0;
  };
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry) => {
        check(entry);
        entry.resume();
      },
    });
    parser.on("error", reject);
    parser.on("end", () => resolve());
    parser.end(archive);
  }).catch((err: unknown) => {
    problems.push(`not a valid tar.gz: ${(err as Error).message}`);
  });
  return problems;
}

/**
 * Extracts a workspace archive into the (empty) `workspaceRoot`, after refusing it
 * whole when `archiveProblems` finds anything. Files are owned by the launcher user.
 */
export async function unpackWorkspace(
  archive: Buffer,
  workspaceRoot: string,
): Promise<void> {
  const problems = await archiveProblems(archive);
  if (problems.length > 0)
    throw new WorkspaceError(
      `refusing the workspace archive: ${problems.slice(0, 5).join("; ")}`,
    );
  await new Promise<void>((resolve, reject) => {
    const unpack = new Unpack({
      cwd: workspaceRoot,
      strict: true,
      preserveOwner: false,
    });
    unpack.on("error", (err: Error) =>
      reject(
        new WorkspaceError(`extracting the workspace: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    unpack.on("close", () => resolve());
    unpack.end(archive);
  });
}
