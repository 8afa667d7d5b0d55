import { ValidationError } from "../../platform/errors.ts";

/**
 * What a stack's repository string is, as git would read it: a remote URL (https, http,
 * ssh, git, or scp-like `user@host:path`), a local path or `file://` URL, or something
 * refused outright (an option-like string, a remote helper `transport::address` such
 * as `ext::sh -c ...`, an unknown scheme).
 *
 * Local repositories let anyone who may create a stack make the server (the poller's
 * `git ls-remote`, push inspection) and the launchers read any repository on their
 * disks, so they are allowed only when the operator says so
 * (STACKYARD_ALLOW_LOCAL_REPOSITORIES, which `stackyard up` sets).
 */
export type RepositoryKind =
  | { kind: "remote" }
  | { kind: "local" }
  | { kind: "refused"; reason: string };

const REMOTE_SCHEMES = new Set([
  "https",
  "http",
  "ssh",
  "git",
  "git+ssh",
  "ssh+git",
]);

export function classifyRepository(raw: string): RepositoryKind {
  const url = raw.trim();
  if (url.startsWith("-"))
    return { kind: "refused", reason: 'must not start with "-"' };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (REMOTE_SCHEMES.has(scheme)) return { kind: "remote" };
    if (scheme === "file") return { kind: "local" };
    return {
      kind: "refused",
      reason: `the ${scheme}:// scheme is not supported; use https://, ssh:// or git://`,
    };
  }
  const colon = url.indexOf(":");
  const slash = url.indexOf("/");
  if (colon > 0 && (slash < 0 || colon < slash)) {
    if (url.startsWith(url.slice(0, colon) + "::"))
      return {
        kind: "refused",
        reason: "git remote helpers (transport::address) are not supported",
      };
    // scp-like syntax: [user@]host:path, which git reaches over ssh.
    return { kind: "remote" };
  }
  return { kind: "local" };
}

/**
 * Throws a ValidationError naming each repository field the policy refuses: `repository`
 * when git clones it (raw git stacks; provider stacks hold a repository name there),
 * and `repositoryURL` whenever it is set.
 */
export function assertRepositoryAllowed(
  label: string,
  stack: { provider: string; repository: string; repositoryUrl: string | null },
  opts: { allowLocal: boolean },
): void {
  const fields: Array<[string, string]> = [];
  if (stack.provider === "GIT") fields.push(["repository", stack.repository]);
  if (stack.repositoryUrl) fields.push(["repositoryURL", stack.repositoryUrl]);
  const problems: string[] = [];
  for (const [field, value] of fields) {
    const found = classifyRepository(value);
    if (found.kind === "refused")
      problems.push(`${label}.${field}: ${found.reason}`);
    else if (found.kind === "local" && !opts.allowLocal)
      problems.push(
        `${label}.${field}: local paths and file:// URLs are not allowed on this server (the operator may set STACKYARD_ALLOW_LOCAL_REPOSITORIES=true); use a remote URL such as https://git.example.com/acme/infra.git`,
      );
  }
  if (problems.length) throw new ValidationError(problems.join("; "));
}
