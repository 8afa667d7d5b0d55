import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validateConfig, type ConfigSources } from "./index.ts";

const cwd = mkdtempSync(path.join(tmpdir(), "stackyard-config-"));
const validate = (sources: ConfigSources) =>
  validateConfig({ env: {}, cwd, ...sources });

describe("repository and egress settings", () => {
  it("refuses local repositories and allows no egress exception by default", () => {
    const result = validate({});
    if (!result.ok) throw new Error("expected a valid config");
    expect(result.config.repositories.allowLocal).toBe(false);
    expect(result.config.egress.allow).toEqual([]);
  });

  it("reads STACKYARD_EGRESS_ALLOW as a comma-separated list of hosts and CIDRs", () => {
    const result = validate({
      env: {
        STACKYARD_EGRESS_ALLOW: "127.0.0.1/32, ::1 gitlab.internal",
        STACKYARD_ALLOW_LOCAL_REPOSITORIES: "true",
      },
    });
    if (!result.ok) throw new Error("expected a valid config");
    expect(result.config.egress.allow).toEqual([
      "127.0.0.1/32",
      "::1",
      "gitlab.internal",
    ]);
    expect(result.config.repositories.allowLocal).toBe(true);
  });

  it("names the variable and the entry that is neither a host nor a CIDR", () => {
    const result = validate({
      env: { STACKYARD_EGRESS_ALLOW: "127.0.0.1/40,http://x" },
    });
    if (result.ok) throw new Error("expected an invalid config");
    const text = JSON.stringify(result.issues);
    expect(text).toContain("STACKYARD_EGRESS_ALLOW");
    expect(text).toContain("the prefix length must be 0-32");
    expect(text).toContain('\\"http://x\\" is neither a hostname');
  });

  it("lets a command's defaults apply unless the environment sets them", () => {
    const up = validate({
      envDefaults: { STACKYARD_ALLOW_LOCAL_REPOSITORIES: "true" },
    });
    const overridden = validate({
      env: { STACKYARD_ALLOW_LOCAL_REPOSITORIES: "false" },
      envDefaults: { STACKYARD_ALLOW_LOCAL_REPOSITORIES: "true" },
    });
    if (!up.ok || !overridden.ok) throw new Error("expected valid configs");
    expect(up.config.repositories.allowLocal).toBe(true);
    expect(overridden.config.repositories.allowLocal).toBe(false);
  });
});
