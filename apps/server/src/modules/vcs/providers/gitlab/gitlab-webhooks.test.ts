import { createHash } from "node:crypto";
import { loopbackEgress } from "../../../../../test/egress.ts";
import { describe, expect, it } from "vitest";
import type { VcsIntegration } from "../../provider.ts";
import { VcsInputError } from "../../vcs-errors.ts";
import {
  GITLAB_EVENTS,
  gitlabDelivery,
  gitlabMergeRequestPayload,
  loadVcsFixture,
} from "../../../../../test/fixtures/vcs/index.ts";
import { createGitlabAdapter } from "./gitlab-adapter.ts";

const SECRET = "gl-hook-secret-8c1d";
const integration: VcsIntegration = {
  id: "vcs_gitlab",
  name: "gitlab",
  provider: "GITLAB",
  spaceId: "root",
  isDefault: true,
  labels: [],
  description: null,
  settings: {
    kind: "GITLAB",
    apiUrl: "https://gitlab.example.com",
    gitUrl: "https://gitlab.example.com",
    token: "glpat-unused",
    webhookSecret: SECRET,
  },
};
const NOW = new Date("2026-11-23T12:00:00Z");
const adapter = createGitlabAdapter({
  fetch: loopbackEgress.fetch,
  clock: () => NOW,
});
const parse = (event: string, payload: unknown) =>
  adapter.parseWebhook(integration, event, payload);

function parseError(event: string, payload: unknown): VcsInputError {
  try {
    parse(event, payload);
  } catch (err) {
    expect(err).toBeInstanceOf(VcsInputError);
    return err as VcsInputError;
  }
  throw new Error("expected the payload to be refused");
}

describe("GitLab webhook tokens", () => {
  const payload = loadVcsFixture("gitlab/push-hook.json");

  it("accepts the secret token and names the event and its uuid", () => {
    const d = gitlabDelivery({
      token: SECRET,
      event: GITLAB_EVENTS.push,
      payload,
      eventUuid: "2b4d5c66-8f2c-4b8f-9d3e-0a1b2c3d4e5f",
    });
    expect(adapter.verifyWebhook(integration, d.headers, d.body)).toEqual({
      ok: true,
      deliveryId: "2b4d5c66-8f2c-4b8f-9d3e-0a1b2c3d4e5f",
      eventName: "Push Hook",
    });
  });

  it("derives the delivery id from the body when GitLab sends no event uuid", () => {
    const d = gitlabDelivery({
      token: SECRET,
      event: GITLAB_EVENTS.push,
      payload,
      eventUuid: null,
    });
    const verdict = adapter.verifyWebhook(integration, d.headers, d.body);
    expect(verdict).toEqual({
      ok: true,
      eventName: "Push Hook",
      deliveryId: `sha256:${createHash("sha256").update(d.body).digest("hex")}`,
    });
  });

  it("refuses a wrong token, a token of another length and a missing one", () => {
    for (const token of ["gl-hook-secret-8c1e", "short", `${SECRET}x`, ""]) {
      const d = gitlabDelivery({ token, event: GITLAB_EVENTS.push, payload });
      expect(
        adapter.verifyWebhook(integration, d.headers, d.body),
        token,
      ).toEqual({
        ok: false,
        reason: "X-Gitlab-Token does not match the webhook secret",
      });
    }
    const d = gitlabDelivery({
      token: SECRET,
      event: GITLAB_EVENTS.push,
      payload,
    });
    delete d.headers["x-gitlab-token"];
    expect(adapter.verifyWebhook(integration, d.headers, d.body)).toEqual({
      ok: false,
      reason: "missing X-Gitlab-Token header",
    });
  });

  it("refuses every request when the integration has no webhook secret", () => {
    const d = gitlabDelivery({ token: "", event: GITLAB_EVENTS.push, payload });
    const noSecret = {
      ...integration,
      settings: { ...integration.settings, webhookSecret: "" },
    } as VcsIntegration;
    expect(adapter.verifyWebhook(noSecret, d.headers, d.body).ok).toBe(false);
  });
});

describe("GitLab webhook parsing", () => {
  it("parses a push hook with the files of every commit", () => {
    const event = parse(
      GITLAB_EVENTS.push,
      loadVcsFixture("gitlab/push-hook.json"),
    );
    expect(event).toEqual({
      kind: "push",
      repository: "platform/networking/infra",
      branch: "main",
      tag: null,
      sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      beforeSha: "95790bf891e76fee5e1747ab589903a6a1f80f22",
      message: "Wire the VPC module in\n",
      author: "jsmith",
      createdAt: new Date("2026-11-23T12:38:09Z"),
      affectedFiles: expect.any(Array),
    });
    expect(
      event.kind === "push" ? [...(event.affectedFiles ?? [])].sort() : null,
    ).toEqual([
      "legacy/vpc.tf",
      "main.tf",
      "modules/vpc/main.tf",
      "outputs.tf",
    ]);
  });

  it("treats the files as unknown when GitLab listed only part of the commits", () => {
    const p = loadVcsFixture("gitlab/push-hook.json");
    p["total_commits_count"] = 35;
    const event = parse(GITLAB_EVENTS.push, p);
    expect(event.kind === "push" && event.affectedFiles).toBeNull();
  });

  it("parses a tag push at the commit the tag points to", () => {
    expect(
      parse(GITLAB_EVENTS.tagPush, loadVcsFixture("gitlab/tag-push-hook.json")),
    ).toEqual({
      kind: "push",
      repository: "platform/networking/infra",
      branch: null,
      tag: "v1.0.0",
      sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      beforeSha: null,
      message: "",
      author: "jsmith",
      createdAt: NOW,
      affectedFiles: null,
    });
  });

  it("ignores a push that deletes a branch", () => {
    const p = loadVcsFixture("gitlab/push-hook.json");
    p["after"] = "0000000000000000000000000000000000000000";
    p["checkout_sha"] = null;
    p["commits"] = [];
    expect(parse(GITLAB_EVENTS.push, p)).toEqual({
      kind: "ignored",
      reason: "push to platform/networking/infra deletes refs/heads/main",
    });
  });

  it("parses a merge request hook", () => {
    expect(
      parse(
        GITLAB_EVENTS.mergeRequest,
        loadVcsFixture("gitlab/merge-request-hook.json"),
      ),
    ).toEqual({
      kind: "pull_request",
      repository: "platform/networking/infra",
      action: "opened",
      number: 7,
      headSha: "1f4f8b2c5d3e6a7b8c9d0e1f2a3b4c5d6e7f8a9b",
      headBranch: "vpc-peering",
      baseBranch: "main",
      title: "Peer the VPC with the shared services VPC",
      author: "root",
      labels: ["networking"],
      draft: false,
      affectedFiles: null,
    });
  });

  it("maps merge request actions to ours", () => {
    const action = (
      a: string | undefined,
      extra: (p: Record<string, unknown>) => void = () => {},
    ) => {
      const p = gitlabMergeRequestPayload({
        path: "g/p",
        iid: 1,
        headSha: "abc",
        sourceBranch: "x",
      });
      const attrs = p["object_attributes"] as Record<string, unknown>;
      if (a === undefined) delete attrs["action"];
      else attrs["action"] = a;
      extra(p);
      const e = parse(GITLAB_EVENTS.mergeRequest, p);
      return e.kind === "pull_request" ? e.action : e.kind;
    };
    expect(action("reopen")).toBe("reopened");
    expect(action("close")).toBe("closed");
    expect(action("merge")).toBe("closed");
    expect(action("update")).toBe("edited");
    expect(
      action("update", (p) => {
        (p["object_attributes"] as Record<string, unknown>)["oldrev"] =
          "95790bf891e76fee5e1747ab589903a6a1f80f22";
      }),
    ).toBe("synchronize");
    const labels =
      (previous: string[], current: string[]) =>
      (p: Record<string, unknown>) => {
        p["changes"] = {
          labels: {
            previous: previous.map((title) => ({ title })),
            current: current.map((title) => ({ title })),
          },
        };
      };
    expect(action("update", labels(["a"], ["a", "b"]))).toBe("labeled");
    expect(action("update", labels(["a", "b"], ["a"]))).toBe("unlabeled");
    expect(action("approved")).toBe("other");
    expect(action(undefined)).toBe("other");
  });

  it("reads draft from work_in_progress on older GitLab versions", () => {
    const p = loadVcsFixture("gitlab/merge-request-hook.json");
    const attrs = p["object_attributes"] as Record<string, unknown>;
    delete attrs["draft"];
    attrs["work_in_progress"] = true;
    const e = parse(GITLAB_EVENTS.mergeRequest, p);
    expect(e.kind === "pull_request" && e.draft).toBe(true);
  });

  it("ignores other hooks by name", () => {
    expect(parse("Pipeline Hook", {})).toEqual({
      kind: "ignored",
      reason: 'GitLab event "Pipeline Hook" is not handled',
    });
  });

  it("refuses a push without project.path_with_namespace, naming the field", () => {
    const p = loadVcsFixture("gitlab/push-hook.json");
    delete (p["project"] as Record<string, unknown>)["path_with_namespace"];
    expect(parseError(GITLAB_EVENTS.push, p).message).toContain(
      'field "project.path_with_namespace"',
    );
  });

  it("refuses a commit whose added files are not a list, naming the field", () => {
    const p = loadVcsFixture("gitlab/push-hook.json");
    (
      (p["commits"] as Array<Record<string, unknown>>)[1] as Record<
        string,
        unknown
      >
    )["added"] = "outputs.tf";
    expect(parseError(GITLAB_EVENTS.push, p).message).toContain(
      'field "commits.1.added"',
    );
  });

  it("refuses a merge request without last_commit, naming the field", () => {
    const p = loadVcsFixture("gitlab/merge-request-hook.json");
    delete (p["object_attributes"] as Record<string, unknown>)["last_commit"];
    expect(parseError(GITLAB_EVENTS.mergeRequest, p).message).toContain(
      'field "object_attributes.last_commit"',
    );
  });
});
