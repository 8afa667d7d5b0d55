import { afterEach, describe, expect, it, vi } from "vitest";
import { MissingToolError, SETUP, skipWithout } from "./tools.ts";

describe("skipWithout", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it("never skips when the tool is there, in CI or not", () => {
    vi.stubEnv("CI", "true");
    expect(skipWithout("OPA", null, SETUP.toolchain)).toBe(false);
    vi.stubEnv("CI", "");
    expect(skipWithout("OPA", null, SETUP.toolchain)).toBe(false);
  });

  it("skips with a warning naming the tool and its setup outside CI", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    for (const ci of ["", "false", "0"]) {
      vi.stubEnv("CI", ci);
      expect(
        skipWithout("Chromium", "no /usr/bin/chromium", SETUP.chromium),
      ).toBe(true);
    }
    expect(warn).toHaveBeenCalledWith(
      `skipping the tests that need Chromium: Chromium is missing: no /usr/bin/chromium; to provide it: ${SETUP.chromium}`,
    );
  });

  it("throws under CI, naming the tool, what is missing and the setup command", () => {
    for (const ci of ["true", "1", "TRUE"]) {
      vi.stubEnv("CI", ci);
      let thrown: unknown;
      try {
        skipWithout("OpenTofu", "no tofu binary at /x/tofu", SETUP.toolchain);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(MissingToolError);
      expect((thrown as Error).message).toBe(
        `OpenTofu is missing: no tofu binary at /x/tofu; to provide it: ${SETUP.toolchain} (CI=true: tests needing OpenTofu fail instead of skipping)`,
      );
    }
  });
});
