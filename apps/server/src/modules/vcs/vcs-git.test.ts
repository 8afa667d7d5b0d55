import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo, LookupFunction } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEgressGuard,
  EgressDeniedError,
} from "../../platform/http/egress.ts";
import { createGitRunner, pinRepository } from "./vcs-git.ts";

/** Answers every name with `address`, recording the names asked. */
function lookupTo(address: string, asked: string[]): LookupFunction {
  return ((host: string, _opts: unknown, cb: (...a: unknown[]) => void) => {
    asked.push(host);
    cb(null, [{ address, family: address.includes(":") ? 6 : 4 }]);
  }) as unknown as LookupFunction;
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, encoding: "utf8" }).trim();

describe("pinRepository", () => {
  const resolved: string[] = [];
  const egress = {
    resolveHost: (host: string) => {
      resolved.push(host);
      return Promise.resolve(
        host === "v6.example"
          ? { address: "2001:db8::1", family: 6 as const }
          : { address: "203.0.113.7", family: 4 as const },
      );
    },
  };

  it("pins http(s) with curl's resolve option and no redirects, ssh with HostName, git:// by address", async () => {
    expect(await pinRepository("https://git.example/o/r.git", egress)).toEqual({
      url: "https://git.example/o/r.git",
      config: [
        "http.curloptResolve=git.example:443:203.0.113.7",
        "http.followRedirects=false",
      ],
      sshOptions: [],
    });
    expect(
      (await pinRepository("http://v6.example:8080/r.git", egress)).config[0],
    ).toBe("http.curloptResolve=v6.example:8080:[2001:db8::1]");
    expect(
      await pinRepository("ssh://git@git.example:2222/o/r.git", egress),
    ).toMatchObject({ sshOptions: ["HostName=203.0.113.7"], config: [] });
    expect(
      await pinRepository("git@git.example:o/r.git", egress),
    ).toMatchObject({ sshOptions: ["HostName=203.0.113.7"] });
    expect(await pinRepository("git://git.example/o/r.git", egress)).toEqual({
      url: "git://203.0.113.7/o/r.git",
      config: [],
      sshOptions: [],
    });
    expect(resolved).toEqual([
      "git.example",
      "v6.example",
      "git.example",
      "git.example",
      "git.example",
    ]);
  });

  it("leaves local paths and file:// URLs alone, resolving nothing", async () => {
    resolved.length = 0;
    for (const local of ["/srv/repo", "./repo", "file:///srv/repo"])
      expect(await pinRepository(local, egress)).toEqual({
        url: local,
        config: [],
        sshOptions: [],
      });
    expect(resolved).toEqual([]);
  });
});

describe("the server's git calls go through the egress guard", () => {
  let tmp: string;
  let server: http.Server;
  let port: number;
  let head: string;
  const requests: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "stackyard-vcs-git-"));
    const work = path.join(tmp, "work");
    execFileSync("git", ["init", "-q", "-b", "main", work]);
    git(
      work,
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@t",
      "commit",
      "-q",
      "--allow-empty",
      "-m",
      "first",
    );
    head = git(work, "rev-parse", "HEAD");
    execFileSync("git", [
      "clone",
      "-q",
      "--bare",
      work,
      path.join(tmp, "r.git"),
    ]);
    git(path.join(tmp, "r.git"), "update-server-info");
    // Git's "dumb" HTTP protocol: the bare repository's files, served as they are.
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      const file = path.join(
        tmp,
        path.normalize(
          decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/"),
        ),
      );
      stat(file)
        .then(
          (s) => {
            if (!s.isFile() || !file.startsWith(tmp)) throw new Error("no");
            createReadStream(file).pipe(res);
          },
          () => res.writeHead(404).end(),
        )
        .catch(() => res.writeHead(404).end());
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await rm(tmp, { recursive: true, force: true });
  });

  it("refuses a name that resolves to loopback before git runs", async () => {
    const asked: string[] = [];
    const runner = createGitRunner({
      mirrorsDir: path.join(tmp, "mirrors-denied"),
      egress: createEgressGuard({
        allow: [],
        lookup: lookupTo("127.0.0.1", asked),
      }),
    });
    requests.length = 0;
    const refused = runner.lsRemoteBranch(
      `http://repo.test:${port}/r.git`,
      "main",
    );
    await expect(refused).rejects.toBeInstanceOf(EgressDeniedError);
    await expect(refused).rejects.toThrow(/loopback/);
    await expect(
      runner.inspectPush(`http://repo.test:${port}/r.git`, "main", null, head),
    ).rejects.toBeInstanceOf(EgressDeniedError);
    expect(asked).toContain("repo.test");
    expect(requests).toEqual([]);
  });

  it("connects git to the checked address, not to what git itself would resolve", async () => {
    // repo.test does not resolve in public DNS: git reaches the server only through the pin.
    const asked: string[] = [];
    const runner = createGitRunner({
      mirrorsDir: path.join(tmp, "mirrors-allowed"),
      egress: createEgressGuard({
        allow: ["127.0.0.1/32"],
        lookup: lookupTo("127.0.0.1", asked),
      }),
    });
    requests.length = 0;
    expect(
      await runner.lsRemoteBranch(`http://repo.test:${port}/r.git`, "main"),
    ).toBe(head);
    const pushed = await runner.inspectPush(
      `http://repo.test:${port}/r.git`,
      "main",
      null,
      head,
    );
    expect(pushed.commit.message).toBe("first");
    expect(requests.some((r) => r.startsWith("/r.git/info/refs"))).toBe(true);
    expect(
      asked.filter((h) => h === "repo.test").length,
    ).toBeGreaterThanOrEqual(2);
  });
});
