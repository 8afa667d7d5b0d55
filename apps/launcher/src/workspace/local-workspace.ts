/**
 * A local preview's source: the archive spacectl uploaded (`stack local-preview`),
 * extracted in place of a git clone.
 */
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { localWorkspaceProblems } from "@stackyard/protocol";
import { unpackWorkspace } from "./workspace-archive.ts";
import { WorkspaceError } from "./workspace.ts";

/**
 * Extracts `archive` and makes its `<id>/` directory the run's `sourceDir` (which must
 * not exist yet). The archive is checked first, whole, by the rules the server applied
 * at upload (localWorkspaceProblems: every entry under `<id>/`, links staying inside it,
 * size and entry limits) and by the workspace archive's own rules at extraction, so a
 * bad archive extracts nothing. The staging directory is a sibling of `sourceDir`
 * inside the run directory and is removed afterwards.
 */
export async function extractLocalWorkspace(
  archive: Buffer,
  id: string,
  sourceDir: string,
): Promise<void> {
  const problems = await localWorkspaceProblems(archive, id);
  if (problems.length > 0)
    throw new WorkspaceError(
      `refusing the local workspace archive: ${problems.slice(0, 5).join("; ")}`,
    );
  const staging = `${sourceDir}.upload`;
  await mkdir(staging);
  try {
    await unpackWorkspace(archive, staging);
    await rename(path.join(staging, id), sourceDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
