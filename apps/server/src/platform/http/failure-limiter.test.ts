import { describe, expect, it } from "vitest";
import { RateLimitedError } from "../errors.ts";
import { createFailureLimiter } from "./failure-limiter.ts";

describe("createFailureLimiter", () => {
  it("refuses a key after maxFailures in a window, until the window ends", () => {
    const clock = { ms: 0 };
    const limiter = createFailureLimiter({
      what: "logins",
      maxFailures: 3,
      windowMs: 60_000,
      now: () => clock.ms,
    });
    for (let i = 0; i < 3; i++) {
      limiter.check("10.0.0.1");
      limiter.fail("10.0.0.1");
    }
    const err = (() => {
      try {
        limiter.check("10.0.0.1");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({
      code: "RATE_LIMITED",
      httpStatus: 429,
      retryAfterSeconds: 60,
      message: "too many failed logins from this address; try again in 60 s",
    });
    // Other addresses are not affected.
    expect(() => limiter.check("10.0.0.2")).not.toThrow();
    clock.ms = 60_000;
    expect(() => limiter.check("10.0.0.1")).not.toThrow();
  });

  it("forgets the oldest keys beyond maxKeys", () => {
    const limiter = createFailureLimiter({
      what: "logins",
      maxFailures: 1,
      windowMs: 60_000,
      maxKeys: 2,
    });
    limiter.fail("a");
    limiter.fail("b");
    limiter.fail("c");
    expect(() => limiter.check("a")).not.toThrow();
    expect(() => limiter.check("b")).toThrow(RateLimitedError);
    expect(() => limiter.check("c")).toThrow(RateLimitedError);
  });
});
