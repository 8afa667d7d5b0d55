import { describe, expect, it } from "vitest";
import { ValidationError } from "../../platform/errors.ts";
import {
  assertRepositoryAllowed,
  classifyRepository,
} from "./stack-repository.ts";

describe("classifyRepository", () => {
  it("knows remote URLs, scp-like addresses, local paths and refused forms", () => {
    for (const remote of [
      "https://github.com/acme/infra.git",
      "HTTP://git.example.com/x",
      "ssh://git@host/x.git",
      "git://host/x",
      "git@github.com:acme/infra.git",
      "host:x",
    ])
      expect(classifyRepository(remote).kind, remote).toBe("remote");
    for (const local of [
      "/srv/git/infra",
      "./infra",
      "../x",
      "infra",
      "org/web",
      "file:///srv/git/infra",
      "FILE://host/x",
      "/a:b",
    ])
      expect(classifyRepository(local).kind, local).toBe("local");
    for (const refused of [
      "ext::sh -c touch% /tmp/pwned",
      "fd::3",
      "--upload-pack=touch /tmp/x",
      "ftp://host/x",
      "gopher://host/x",
    ])
      expect(classifyRepository(refused).kind, refused).toBe("refused");
  });
});

describe("assertRepositoryAllowed", () => {
  const stack = (repository: string, repositoryUrl: string | null = null) => ({
    provider: "GIT",
    repository,
    repositoryUrl,
  });

  it("refuses local paths and file:// unless the operator allows them, naming the field", () => {
    expect(() =>
      assertRepositoryAllowed("stackCreate input", stack("/srv/git/infra"), {
        allowLocal: false,
      }),
    ).toThrow(
      /^stackCreate input\.repository: local paths and file:\/\/ URLs are not allowed on this server \(the operator may set STACKYARD_ALLOW_LOCAL_REPOSITORIES=true\)/,
    );
    expect(() =>
      assertRepositoryAllowed(
        "stackUpdate input",
        { ...stack("infra"), provider: "GITHUB", repositoryUrl: "file:///x" },
        { allowLocal: false },
      ),
    ).toThrow(/^stackUpdate input\.repositoryURL: local paths/);
    expect(() =>
      assertRepositoryAllowed("stackCreate input", stack("file:///srv/x"), {
        allowLocal: true,
      }),
    ).not.toThrow();
  });

  it("leaves provider stacks' repository names alone and always refuses helpers", () => {
    expect(() =>
      assertRepositoryAllowed(
        "stackCreate input",
        { ...stack("infra"), provider: "GITHUB" },
        { allowLocal: false },
      ),
    ).not.toThrow();
    expect(() =>
      assertRepositoryAllowed("stackCreate input", stack("ext::sh -c id"), {
        allowLocal: true,
      }),
    ).toThrow(ValidationError);
  });
});
