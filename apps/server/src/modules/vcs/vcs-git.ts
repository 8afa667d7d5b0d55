import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { redactUrlCredentials } from "@stackyard/protocol";
import type { EgressGuard } from "../../platform/http/egress.ts";

/**
 * The git CLI for the poller and for pushes whose changed files the provider did not
 * send: `ls-remote` of a branch, and a bare mirror per repository URL cached under the
 * server's data directory to diff two commits. Works with any URL git accepts, local
 * paths and file:// included. Never prompts for credentials, every call has a timeout,
 * and credentials in URLs are redacted from every message.
 *
 * Concurrency: calls on one mirror are serialized within the process; across processes
 * sharing a data directory, git's own ref locks make a racing fetch fail, which the
 * queue retries.
 */

export class GitCommandError extends Error {}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** `https://user:secret@host/x` → `https://***@host/x`, also inside longer text; linear time. */
export const redactUrl = redactUrlCredentials;

/**
 * What identifies a repository's mirror: its URL without credentials. A clone URL may
 * carry a token that changes (GitHub installation tokens last an hour); keying on it
 * would start a new mirror with every token, and would put the token in a path.
 */
export function mirrorKeyOf(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.href;
  } catch {
    return redactUrl(url);
  }
}

export interface GitRunner {
  lsRemoteBranch(url: string, branch: string): Promise<string | null>;
  /** Fetches `after` into the mirror; its metadata and the files changed since `before`. */
  inspectPush(
    url: string,
    branch: string,
    before: string | null,
    after: string,
  ): Promise<{ files: string[] | null; commit: CommitInfo }>;
}

/** How git must reach a repository: extra `-c` options, ssh options, and the URL to use. */
export interface GitPin {
  url: string;
  config: string[];
  sshOptions: string[];
}

/**
 * Resolves and checks the host of a remote repository URL and returns the options that
 * pin git to that address. Local paths and file:// URLs need no network: unchanged.
 */
export async function pinRepository(
  raw: string,
  egress: Pick<EgressGuard, "resolveHost">,
): Promise<GitPin> {
  const none: GitPin = { url: raw, config: [], sshOptions: [] };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    // scp-like `[user@]host:path` (git reads a colon before any slash as this form).
    const scp = /^(?:[^@/]+@)?(\[[^\]]+\]|[^:/[]+):/.exec(raw);
    if (!scp?.[1]) return none;
    const { address } = await egress.resolveHost(scp[1]);
    return { ...none, sshOptions: [`HostName=${address}`] };
  }
  if (scheme === "file") return none;
  const url = new URL(raw);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const { address, family } = await egress.resolveHost(host);
  if (scheme === "http" || scheme === "https") {
    const port = url.port || (scheme === "https" ? "443" : "80");
    const shown = family === 6 ? `[${address}]` : address;
    return {
      url: raw,
      config: [
        `http.curloptResolve=${host}:${port}:${shown}`,
        "http.followRedirects=false",
      ],
      sshOptions: [],
    };
  }
  if (scheme === "git") {
    url.hostname = family === 6 ? `[${address}]` : address;
    return { ...none, url: url.href };
  }
  return { ...none, sshOptions: [`HostName=${address}`] };
}

export function createGitRunner(opts: {
  /** Where bare mirrors live (e.g. `<dataDir>/vcs-mirrors`). */
  mirrorsDir: string;
  /** Remote hosts are checked and pinned through it (see the contract above). */
  egress: Pick<EgressGuard, "resolveHost">;
  lsRemoteTimeoutMs?: number;
  fetchTimeoutMs?: number;
}): GitRunner {
  const lsTimeout = opts.lsRemoteTimeoutMs ?? 30_000;
  const fetchTimeout = opts.fetchTimeoutMs ?? 120_000;
  const chains = new Map<string, Promise<unknown>>();

  function git(
    args: string[],
    timeoutMs: number,
    cwd?: string,
    pin?: GitPin,
  ): Promise<string> {
    const config = (pin?.config ?? []).flatMap((c) => ["-c", c]);
    const ssh = ["ssh", "-o", "BatchMode=yes"];
    for (const o of pin?.sshOptions ?? []) ssh.push("-o", o);
    return new Promise((resolve, reject) => {
      execFile(
        "git",
        [...config, ...args],
        {
          cwd,
          timeout: timeoutMs,
          maxBuffer: 32 * 1024 * 1024,
          env: {
            ...process.env,
            GIT_TERMINAL_PROMPT: "0",
            GIT_ASKPASS: "/bin/false",
            SSH_ASKPASS: "/bin/false",
            GIT_SSH_COMMAND: ssh.join(" "),
            LC_ALL: "C",
          },
        },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const killed = (err as { killed?: boolean }).killed;
          const what = redactUrl(`git ${args[0] ?? ""}`);
          reject(
            new GitCommandError(
              killed
                ? `${what} timed out after ${Math.round(timeoutMs / 1000)} s`
                : `${what} failed: ${redactUrl(String(stderr || err.message).trim()).slice(0, 500)}`,
            ),
          );
        },
      );
    });
  }

  /** Runs `fn` after every earlier call on the same mirror has settled. */
  function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    chains.set(key, tail);
    void tail.then(() => {
      if (chains.get(key) === tail) chains.delete(key);
    });
    return next;
  }

  async function ensureMirror(url: string): Promise<string> {
    const dir = path.join(
      opts.mirrorsDir,
      `${createHash("sha256").update(mirrorKeyOf(url)).digest("hex").slice(0, 32)}.git`,
    );
    const exists = await stat(dir).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await mkdir(opts.mirrorsDir, { recursive: true });
      await git(["init", "--quiet", "--bare", dir], lsTimeout);
    }
    return dir;
  }

  async function hasCommit(dir: string, sha: string): Promise<boolean> {
    return git(["cat-file", "-e", `${sha}^{commit}`], lsTimeout, dir).then(
      () => true,
      () => false,
    );
  }

  return {
    /** The branch's head commit, or null when the branch does not exist. */
    async lsRemoteBranch(url, branch) {
      const pin = await pinRepository(url, opts.egress);
      const out = await git(
        ["ls-remote", "--", pin.url, `refs/heads/${branch}`],
        lsTimeout,
        undefined,
        pin,
      );
      for (const line of out.split("\n")) {
        const [sha, ref] = line.trim().split(/\s+/);
        if (ref === `refs/heads/${branch}` && sha && SHA.test(sha)) return sha;
      }
      return null;
    },

    /**
     * Fetches the branch into the mirror (when `after` is not there yet), then reads
     * `after`'s author, date and message and the files changed between `before` and
     * `after` (`git diff --name-only`). Files are null when they cannot be known: no
     * `before` (a new branch), or `before` is no longer served (a force push).
     */
    async inspectPush(url, branch, before, after) {
      if (!SHA.test(after))
        throw new GitCommandError(`not a commit id: ${after}`);
      const base =
        before !== null && SHA.test(before) && !/^0+$/.test(before)
          ? before
          : null;
      return serialized(mirrorKeyOf(url), async () => {
        const dir = await ensureMirror(url);
        if (
          !(await hasCommit(dir, after)) ||
          (base !== null && !(await hasCommit(dir, base)))
        ) {
          const pin = await pinRepository(url, opts.egress);
          await git(
            [
              "fetch",
              "--quiet",
              "--no-tags",
              "--",
              pin.url,
              `+refs/heads/${branch}:refs/heads/${branch}`,
            ],
            fetchTimeout,
            dir,
            pin,
          );
        }
        if (!(await hasCommit(dir, after)))
          throw new GitCommandError(
            `commit ${after} is not on branch ${branch} of the repository`,
          );
        const [author = "", date = "", ...message] = (
          await git(
            ["log", "-1", "--format=%an%x00%aI%x00%B", after],
            lsTimeout,
            dir,
          )
        ).split("\0");
        const at = new Date(date);
        const commit: CommitInfo = {
          author,
          at: Number.isNaN(at.getTime()) ? null : at,
          message: message.join("\0").trim(),
        };
        if (base === null || !(await hasCommit(dir, base)))
          return { files: null, commit };
        const out = await git(
          ["diff", "--name-only", "--no-renames", base, after],
          fetchTimeout,
          dir,
        );
        return {
          files: out.split("\n").filter((l) => l.length > 0),
          commit,
        };
      });
    },
  };
}

/** A commit's metadata as git records it. */
export interface CommitInfo {
  message: string;
  author: string;
  at: Date | null;
}
