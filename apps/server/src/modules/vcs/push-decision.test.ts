import { describe, expect, it } from "vitest";
import {
  affectingRule,
  decidePush,
  normalizeProjectRoot,
  type PushPolicyCommit,
  type PushPolicyInput,
  type PushPolicyPullRequest,
  type PushPolicyStack,
} from "./push-decision.ts";

function stack(over: Partial<PushPolicyStack> = {}): PushPolicyStack {
  return {
    id: "infra",
    name: "infra",
    branch: "main",
    project_root: "infra",
    additional_project_globs: [],
    labels: [],
    namespace: "acme",
    repository: "repo",
    provider: "GITHUB",
    autodeploy: false,
    administrative: false,
    state: "NONE",
    space: { id: "root" },
    disabled: false,
    locked_by: null,
    ...over,
  };
}

function commit(over: Partial<PushPolicyCommit> = {}): PushPolicyCommit {
  return {
    affected_files: ["infra/main.tf"],
    author: "ada",
    branch: "main",
    created_at: 0n,
    hash: "a".repeat(40),
    message: "change",
    tag: "",
    ...over,
  };
}

function pushInput(
  push: Partial<PushPolicyCommit> = {},
  s: Partial<PushPolicyStack> = {},
): PushPolicyInput {
  return {
    push: commit(push),
    pull_request: null,
    stack: stack(s),
    in_progress: [],
    vcs_integration: null,
  };
}

function prInput(
  pr: Partial<PushPolicyPullRequest> = {},
  s: Partial<PushPolicyStack> = {},
): PushPolicyInput {
  return {
    push: null,
    pull_request: {
      action: "opened",
      action_initiator: "ada",
      author: "ada",
      base: commit(),
      head: commit({ branch: "feature" }),
      head_owner: "acme",
      id: 7,
      labels: [],
      title: "feature",
      diff: ["infra/main.tf"],
      draft: false,
      closed: false,
      approved: false,
      mergeable: true,
      undiverged: true,
      ...pr,
    },
    stack: stack(s),
    in_progress: [],
    vcs_integration: null,
  };
}

describe("decidePush", () => {
  it("tracks a push to the tracked branch that changes a file under the project root", () => {
    const d = decidePush(pushInput());
    expect(d.action).toBe("track");
    expect(d.reason).toContain("infra/main.tf");
  });

  it("ignores a push to the tracked branch that changes nothing under the project root", () => {
    const d = decidePush(pushInput({ affected_files: ["docs/readme.md"] }));
    expect(d).toEqual({
      action: "ignore",
      reason: 'no changed file (docs/readme.md) is under project root "infra"',
    });
  });

  it("tracks a push whose changed file matches an additional project glob", () => {
    const d = decidePush(
      pushInput(
        { affected_files: ["modules/net/vpc.tf"] },
        { additional_project_globs: ["modules/**/*.tf"] },
      ),
    );
    expect(d.action).toBe("track");
    expect(d.reason).toContain('glob "modules/**/*.tf"');
  });

  it("does not count a sibling directory sharing the root's prefix as under the root", () => {
    expect(
      decidePush(pushInput({ affected_files: ["infra-old/main.tf"] })).action,
    ).toBe("ignore");
  });

  it("treats every file as affecting a stack rooted at the repository root", () => {
    for (const root of ["", ".", "./", "/"]) {
      expect(
        decidePush(
          pushInput(
            { affected_files: ["anything.md"] },
            { project_root: root },
          ),
        ).action,
      ).toBe("track");
    }
  });

  it("treats unknown affected files as affecting the stack", () => {
    const d = decidePush(pushInput({ affected_files: null }));
    expect(d.action).toBe("track");
    expect(d.reason).toContain("unknown");
  });

  it("ignores a push that changes no files", () => {
    expect(decidePush(pushInput({ affected_files: [] }))).toEqual({
      action: "ignore",
      reason: "the commit changes no files",
    });
  });

  it("proposes a push to another branch that affects the stack", () => {
    const d = decidePush(pushInput({ branch: "feature" }));
    expect(d.action).toBe("propose");
    expect(d.reason).toContain("the stack tracks main");
  });

  it("ignores tag pushes even when they touch the project root", () => {
    expect(decidePush(pushInput({ tag: "v1.0.0", branch: "" }))).toEqual({
      action: "ignore",
      reason: "tag v1.0.0: tag pushes do not trigger runs",
    });
  });

  it("ignores a push without a branch", () => {
    expect(decidePush(pushInput({ branch: "" })).action).toBe("ignore");
  });

  it("ignores everything for a disabled stack", () => {
    expect(decidePush(pushInput({}, { disabled: true }))).toEqual({
      action: "ignore",
      reason: "the stack is disabled",
    });
  });

  it("proposes a pull request opened, synchronized or reopened that affects the stack", () => {
    for (const action of ["opened", "synchronize", "reopened"]) {
      const d = decidePush(prInput({ action }));
      expect(d.action).toBe("propose");
      expect(d.reason).toContain(`pull request #7 ${action}`);
    }
  });

  it("ignores pull request actions other than opened, synchronize and reopened", () => {
    for (const action of [
      "closed",
      "labeled",
      "unlabeled",
      "edited",
      "other",
    ]) {
      expect(decidePush(prInput({ action })).action).toBe("ignore");
    }
  });

  it("ignores a pull request whose diff does not affect the stack", () => {
    const d = decidePush(prInput({ diff: ["README.md"] }));
    expect(d.action).toBe("ignore");
    expect(d.reason).toContain("pull request #7");
  });

  it("proposes a pull request with an unknown diff", () => {
    expect(decidePush(prInput({ diff: null })).action).toBe("propose");
  });

  it("ignores a closed pull request even when synchronized", () => {
    expect(
      decidePush(prInput({ action: "synchronize", closed: true })).action,
    ).toBe("ignore");
  });

  it("ignores an input with neither push nor pull request", () => {
    expect(decidePush({ ...pushInput(), push: null }).action).toBe("ignore");
  });

  it("sets no push policy rules: the default never cancels, locks, fails or skips runs", () => {
    const inputs = [
      pushInput(),
      pushInput({ branch: "feature" }),
      pushInput({ tag: "v1.0.0" }),
      { ...pushInput(), push: null },
    ];
    for (const input of inputs) expect(decidePush(input).rules).toBeUndefined();
  });
});

describe("affectingRule", () => {
  it("normalizes project roots", () => {
    expect(normalizeProjectRoot("./infra/")).toBe("infra");
    expect(normalizeProjectRoot(".")).toBe("");
    expect(normalizeProjectRoot("/a/b")).toBe("a/b");
  });

  it("matches dotfiles through globs and the root itself", () => {
    expect(affectingRule(".github/x.yml", "infra", [".github/**"])).toBe(
      'glob ".github/**"',
    );
    expect(affectingRule("infra", "infra", [])).toBe('project root "infra"');
    expect(affectingRule("other/x.tf", "infra", ["*.tf"])).toBeNull();
  });
});
