import path from "node:path";
import { Parser, type ReadEntry } from "tar";

/**
 * The archive of a local preview (spacectl `stack local-preview`): a gzip-compressed tar
 * whose every entry sits under one top-level directory named after the workspace id
 * (`<id>/`, `<id>/main.tf`, ...), that directory being the repository root. The server
 * checks it before keeping an upload and the launcher again before extracting it, with
 * the same rules, so neither trusts the other's copy.
 */

/** Largest upload the server keeps (compressed bytes). */
export const LOCAL_WORKSPACE_MAX_BYTES = 100 * 1024 * 1024;
/** Largest total of the entries' sizes once extracted. */
export const LOCAL_WORKSPACE_MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;
/** Most entries an archive may hold. */
export const LOCAL_WORKSPACE_MAX_ENTRIES = 100_000;
/** What a workspace id looks like (`lws_` and a lower-case ULID). */
export const LOCAL_WORKSPACE_ID_PATTERN = /^lws_[0-9a-z]{26}$/;

const ALLOWED_TYPES = new Set([
  "File",
  "OldFile",
  "ContiguousFile",
  "Directory",
  "SymbolicLink",
  "Link",
]);

export interface LocalWorkspaceLimits {
  maxUnpackedBytes?: number;
  maxEntries?: number;
}

/**
 * Every reason `archive` is not a local workspace of `id`: not a gzip tar; an entry
 * outside `<id>/` (absolute, `..`, another top-level name); a device or FIFO; a symlink
 * or hard link whose target leaves `<id>/`; an entry placed below a symlink of the
 * archive; more entries or more unpacked bytes than the limits. Empty: acceptable.
 * At most 20 problems are listed; the parse stops at the first limit exceeded.
 */
export async function localWorkspaceProblems(
  archive: Buffer,
  id: string,
  limits: LocalWorkspaceLimits = {},
): Promise<string[]> {
  const maxBytes =
    limits.maxUnpackedBytes ?? LOCAL_WORKSPACE_MAX_UNPACKED_BYTES;
  const maxEntries = limits.maxEntries ?? LOCAL_WORKSPACE_MAX_ENTRIES;
  const problems: string[] = [];
  const symlinks = new Set<string>();
  let entries = 0;
  let bytes = 0;
  const inside = (p: string) => p === id || p.startsWith(`${id}/`);

  const check = (entry: ReadEntry): string | null => {
    const name = entry.path;
    const normalized = path.posix.normalize(name).replace(/\/$/, "");
    if (!ALLOWED_TYPES.has(entry.type))
      return `${name}: entry type ${entry.type} not allowed`;
    if (
      path.posix.isAbsolute(normalized) ||
      normalized.split("/").includes("..") ||
      !inside(normalized)
    )
      return `${name}: every entry must be under the top-level directory ${id}/`;
    const parts = normalized.split("/");
    for (let i = 1; i < parts.length; i++)
      if (symlinks.has(parts.slice(0, i).join("/")))
        return `${name}: path goes through a symlink`;
    if (entry.type === "SymbolicLink") {
      const target = entry.linkpath ?? "";
      const resolved = path.posix.normalize(
        path.posix.join(path.posix.dirname(normalized), target),
      );
      if (path.posix.isAbsolute(target) || !inside(resolved))
        return `${name}: symlink to ${target} leaves the workspace`;
      symlinks.add(normalized);
    }
    if (entry.type === "Link") {
      const target = path.posix.normalize(entry.linkpath ?? "");
      if (target.split("/").includes("..") || !inside(target))
        return `${name}: hard link to ${target} leaves the workspace`;
    }
    return null;
  };

  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry) => {
        entries += 1;
        bytes += entry.size ?? 0;
        const problem =
          entries > maxEntries
            ? `more than ${maxEntries} entries`
            : bytes > maxBytes
              ? `more than ${maxBytes} bytes once extracted`
              : check(entry);
        if (problem && problems.length < 20) problems.push(problem);
        if (entries > maxEntries || bytes > maxBytes) {
          parser.abort(new Error("limit exceeded"));
          return;
        }
        entry.resume();
      },
    });
    parser.on("error", (err: Error) =>
      err.message === "limit exceeded" ? resolve() : reject(err),
    );
    parser.on("abort", () => resolve());
    parser.on("end", () => resolve());
    parser.end(archive);
  }).catch((err: unknown) => {
    problems.push(`not a gzip-compressed tar: ${(err as Error).message}`);
  });
  if (problems.length === 0 && entries === 0)
    problems.push("the archive is empty");
  if (archive.length < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b)
    problems.unshift("not gzip-compressed");
  return problems;
}
