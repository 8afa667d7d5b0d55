import { describe, expect, it } from "vitest";
import { parseWebhookBody } from "./vcs-webhook-route.ts";

describe("parseWebhookBody", () => {
  it("turns NUL characters in values into U+FFFD, which Postgres jsonb can store", () => {
    const parsed = parseWebhookBody(
      Buffer.from(JSON.stringify({ head_commit: { message: "a\u0000b" } })),
      "application/json",
    );
    expect(parsed).toEqual({
      ok: true,
      payload: { head_commit: { message: "a\ufffdb" } },
    });
  });

  it("refuses a body with a NUL character in a key", () => {
    const parsed = parseWebhookBody(
      Buffer.from(JSON.stringify({ "k\u0000": 1 })),
      "application/json",
    );
    expect(parsed).toEqual({
      ok: false,
      message: "the webhook body has a key with a NUL character",
    });
  });
});
