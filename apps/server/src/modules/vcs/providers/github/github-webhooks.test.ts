import { describe, expect, it } from "vitest";
import { loopbackEgress } from "../../../../../test/egress.ts";
import type { VcsIntegration } from "../../provider.ts";
import { VcsInputError } from "../../vcs-errors.ts";
import {
  githubDelivery,
  githubPullRequestPayload,
  loadVcsFixture,
  signGithubBody,
} from "../../../../../test/fixtures/vcs/index.ts";
import { createGithubAdapter } from "./github-adapter.ts";

const SECRET = "whsec-4f1e9c0b7a2d";
const integration: VcsIntegration = {
  id: "vcs_github",
  name: "github",
  provider: "GITHUB",
  spaceId: "root",
  isDefault: true,
  labels: [],
  description: null,
  settings: {
    kind: "GITHUB",
    apiUrl: "https://api.github.com",
    gitUrl: "https://github.com",
    appId: "123456",
    privateKeyPem: "unused here",
    webhookSecret: SECRET,
  },
};
const NOW = new Date("2026-11-23T12:00:00Z");
const adapter = createGithubAdapter({
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

describe("GitHub webhook signatures", () => {
  const delivery = githubDelivery({
    secret: SECRET,
    event: "push",
    payload: loadVcsFixture("github/push.json"),
    deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
  });

  it("accepts a body signed with the webhook secret and names the delivery and event", () => {
    expect(
      adapter.verifyWebhook(integration, delivery.headers, delivery.body),
    ).toEqual({
      ok: true,
      deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      eventName: "push",
    });
  });

  it("reads headers whatever their case and takes the first of repeated values", () => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(delivery.headers))
      headers[k.toUpperCase()] = [v, "second"];
    expect(adapter.verifyWebhook(integration, headers, delivery.body)).toEqual(
      expect.objectContaining({ ok: true, eventName: "push" }),
    );
  });

  it("refuses a body signed with another secret", () => {
    const forged = {
      ...delivery.headers,
      "x-hub-signature-256": signGithubBody("not-the-secret", delivery.body),
    };
    expect(adapter.verifyWebhook(integration, forged, delivery.body)).toEqual({
      ok: false,
      reason: "X-Hub-Signature-256 does not match the webhook secret",
    });
  });

  it("refuses a body changed after signing", () => {
    const tampered = Buffer.from(
      delivery.body.toString().replace("acme/infra", "acme/other"),
    );
    expect(
      adapter.verifyWebhook(integration, delivery.headers, tampered).ok,
    ).toBe(false);
  });

  it("refuses a request without X-Hub-Signature-256, even with the sha1 header", () => {
    const headers: Record<string, string> = { ...delivery.headers };
    delete headers["x-hub-signature-256"];
    expect(adapter.verifyWebhook(integration, headers, delivery.body)).toEqual({
      ok: false,
      reason: "missing X-Hub-Signature-256 header",
    });
  });

  it("refuses a signature of the wrong length or form without throwing", () => {
    const good = delivery.headers["x-hub-signature-256"] ?? "";
    for (const bad of [
      "sha256=abc",
      `${good}00`,
      good.replace("sha256=", "sha1="),
      good.replace("sha256=", ""),
      `sha256=${"z".repeat(64)}`,
    ]) {
      const verdict = adapter.verifyWebhook(
        integration,
        { ...delivery.headers, "x-hub-signature-256": bad },
        delivery.body,
      );
      expect(verdict, bad).toEqual({
        ok: false,
        reason: "X-Hub-Signature-256 is not of the form sha256=<64 hex digits>",
      });
    }
  });

  it("refuses every request when the integration has no webhook secret", () => {
    const unsigned = githubDelivery({ secret: "", event: "push", payload: {} });
    const noSecret: VcsIntegration = {
      ...integration,
      settings: { ...integration.settings, webhookSecret: "" } as never,
    };
    expect(
      adapter.verifyWebhook(noSecret, unsigned.headers, unsigned.body).ok,
    ).toBe(false);
  });

  it("refuses a signed request that lacks the delivery id or event name", () => {
    const headers: Record<string, string> = { ...delivery.headers };
    delete headers["x-github-delivery"];
    expect(adapter.verifyWebhook(integration, headers, delivery.body)).toEqual({
      ok: false,
      reason: "missing X-GitHub-Delivery header",
    });
  });
});

describe("GitHub webhook parsing", () => {
  it("parses a branch push with its head commit and the files of every commit", () => {
    const event = parse("push", loadVcsFixture("github/push.json"));
    expect(event).toEqual({
      kind: "push",
      repository: "acme/infra",
      branch: "main",
      tag: null,
      sha: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      beforeSha: "9049f1265b7d61be4a8904a9a27120d2064dab3b",
      message: "Use the network module\n\nAnd drop the old subnet file.",
      author: "monalisa",
      createdAt: new Date("2026-11-23T09:15:31Z"),
      affectedFiles: expect.any(Array),
    });
    expect(
      event.kind === "push" ? [...(event.affectedFiles ?? [])].sort() : null,
    ).toEqual([
      "main.tf",
      "modules/network/main.tf",
      "subnets.tf",
      "variables.tf",
    ]);
  });

  it("parses a tag push; the files of a new ref are unknown", () => {
    expect(parse("push", loadVcsFixture("github/push-tag.json"))).toEqual(
      expect.objectContaining({
        kind: "push",
        branch: null,
        tag: "v1.4.0",
        beforeSha: null,
        sha: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        affectedFiles: null,
      }),
    );
  });

  it("ignores a push that deletes a branch, saying so", () => {
    expect(
      parse("push", loadVcsFixture("github/push-branch-deleted.json")),
    ).toEqual({
      kind: "ignored",
      reason: "push to acme/infra deletes refs/heads/feature/old",
    });
  });

  it("ignores a push to a ref that is neither a branch nor a tag", () => {
    const p = loadVcsFixture("github/push.json");
    p["ref"] = "refs/pull/42/merge";
    expect(parse("push", p)).toEqual(
      expect.objectContaining({ kind: "ignored" }),
    );
  });

  it("parses an opened pull request", () => {
    expect(
      parse("pull_request", loadVcsFixture("github/pull_request-opened.json")),
    ).toEqual({
      kind: "pull_request",
      repository: "acme/infra",
      action: "opened",
      number: 42,
      headSha: "7638417db6d59f3c431d3e1f261cc637155684cd",
      headBranch: "grow-cluster",
      baseBranch: "main",
      title: "Grow the cluster to five nodes",
      author: "monalisa",
      labels: ["infra", "feature:autoscale"],
      draft: false,
      affectedFiles: null,
    });
  });

  it("maps pull request actions, unknown ones to other", () => {
    const action = (a: string) => {
      const e = parse(
        "pull_request",
        githubPullRequestPayload({
          repository: "acme/infra",
          number: 3,
          headSha: "abc",
          headRef: "x",
          action: a,
          draft: true,
        }),
      );
      return e.kind === "pull_request" ? [e.action, e.draft] : e.kind;
    };
    expect(action("synchronize")).toEqual(["synchronize", true]);
    expect(action("closed")).toEqual(["closed", true]);
    expect(action("labeled")).toEqual(["labeled", true]);
    expect(action("ready_for_review")).toEqual(["other", true]);
  });

  it("ignores other events by name", () => {
    expect(parse("ping", loadVcsFixture("github/ping.json"))).toEqual({
      kind: "ignored",
      reason: 'GitHub event "ping" is not handled',
    });
  });

  it("refuses a push without repository.full_name, naming the field", () => {
    const p = loadVcsFixture("github/push.json");
    delete (p["repository"] as Record<string, unknown>)["full_name"];
    expect(parseError("push", p).message).toContain(
      'field "repository.full_name"',
    );
  });

  it("refuses a push whose commits are not a list, naming the field", () => {
    const p = loadVcsFixture("github/push.json");
    p["commits"] = "many";
    const err = parseError("push", p);
    expect(err.message).toContain('field "commits"');
    expect(err.httpStatus).toBe(400);
  });

  it("refuses a pull request whose number is a string, naming the field", () => {
    const p = loadVcsFixture("github/pull_request-opened.json");
    p["number"] = "42";
    expect(parseError("pull_request", p).message).toContain('field "number"');
  });

  it("refuses a payload that is not an object", () => {
    expect(parseError("push", null).message).toContain('field "(payload)"');
    expect(parseError("pull_request", []).message).toContain(
      "malformed GitHub pull_request",
    );
  });
});
