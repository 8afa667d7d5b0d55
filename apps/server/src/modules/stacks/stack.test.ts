import { describe, expect, it } from "vitest";
import { ValidationError } from "../../platform/errors.ts";
import {
  configElementProblem,
  MAX_FILE_MOUNT_BYTES,
  nextFreeSlug,
  normalizeHooks,
  slugify,
} from "./stack.ts";
import {
  configInputSchema,
  parseInput,
  stackInputSchema,
} from "./stack-inputs.ts";

describe("slugify", () => {
  it("lowercases and turns every run of other characters into one dash", () => {
    expect(slugify("My Stack (prod)")).toBe("my-stack-prod");
    expect(slugify("  --Infra__Core--  ")).toBe("infra-core");
    expect(slugify("Café Déjà Vu")).toBe("cafe-deja-vu");
  });
  it("falls back when nothing usable is left", () => {
    expect(slugify("!!!")).toBe("stack");
    expect(slugify("日本", "context")).toBe("context");
  });
});

describe("nextFreeSlug", () => {
  it("uses the slug when it is free", () => {
    expect(nextFreeSlug("web", [])).toBe("web");
    expect(nextFreeSlug("web", ["web-2"])).toBe("web");
  });
  it("appends one more than the highest numeric suffix", () => {
    expect(nextFreeSlug("web", ["web"])).toBe("web-2");
    expect(nextFreeSlug("web", ["web", "web-2", "web-7"])).toBe("web-8");
  });
});

describe("configElementProblem", () => {
  const ok = { type: "ENVIRONMENT_VARIABLE" as const, value: "v" };
  it("accepts shell variable names and rejects others", () => {
    expect(configElementProblem({ ...ok, id: "TF_VAR_region" })).toBeNull();
    expect(configElementProblem({ ...ok, id: "_x1" })).toBeNull();
    expect(configElementProblem({ ...ok, id: "1BAD" })).toMatch(
      /^id: .*not a valid environment variable name/,
    );
    expect(configElementProblem({ ...ok, id: "MY-VAR" })).toMatch(/^id:/);
  });
  it("requires mounted files to be relative paths with base64 values", () => {
    const file = {
      type: "FILE_MOUNT" as const,
      value: Buffer.from("hello").toString("base64"),
    };
    expect(configElementProblem({ ...file, id: "config/app.json" })).toBeNull();
    expect(configElementProblem({ ...file, id: "/etc/passwd" })).toMatch(
      /^id: .*relative/,
    );
    expect(configElementProblem({ ...file, id: "../escape" })).toMatch(/^id: /);
    expect(
      configElementProblem({ ...file, id: "a.txt", value: "not base64!" }),
    ).toMatch(/^value: .*base64/);
  });
  it("limits mounted files to 2 MB decoded", () => {
    const exact = Buffer.alloc(MAX_FILE_MOUNT_BYTES).toString("base64");
    const over = Buffer.alloc(MAX_FILE_MOUNT_BYTES + 1).toString("base64");
    expect(
      configElementProblem({ type: "FILE_MOUNT", id: "big", value: exact }),
    ).toBeNull();
    expect(
      configElementProblem({ type: "FILE_MOUNT", id: "big", value: over }),
    ).toMatch(/^value: .*2 MB/);
  });
});

describe("input parsing", () => {
  const base = {
    administrative: false,
    autodeploy: false,
    autoretry: false,
    branch: "main",
    name: "web",
    repository: "org/web",
  };

  it("names the operation and the field in the error", () => {
    const err = (() => {
      try {
        parseInput(
          stackInputSchema,
          { ...base, branch: "  " },
          "stackCreate input",
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(
      "stackCreate input.branch: must not be empty",
    );
  });

  it("treats the provider's explicit nulls as defaults", () => {
    const s = parseInput(
      stackInputSchema,
      {
        ...base,
        description: null,
        labels: null,
        beforeInit: null,
        vendorConfig: null,
        space: null,
        provider: null,
      },
      "stackCreate input",
    );
    expect(s).toMatchObject({
      description: "",
      labels: [],
      spaceId: null,
      vendor: null,
      provider: "GIT",
    });
    expect(s.hooks.beforeInit).toEqual([]);
    expect(s.enableSensitiveOutputsUpload).toBe(true);
  });

  it("maps vendor configs onto the workflow tool", () => {
    const tf = (workflowTool: string | null) =>
      parseInput(
        stackInputSchema,
        {
          ...base,
          vendorConfig: { terraform: { workflowTool, version: "1.8.0" } },
        },
        "x",
      ).vendor;
    expect(tf("TERRAFORM_FOSS")).toMatchObject({
      workflowTool: "TERRAFORM_FOSS",
      toolVersion: "1.8.0",
    });
    expect(tf(null)).toMatchObject({ workflowTool: "OPEN_TOFU" });
    expect(
      parseInput(
        stackInputSchema,
        { ...base, vendorConfig: { opentofu: { workflowTool: "OPENTOFU" } } },
        "x",
      ).vendor,
    ).toMatchObject({ workflowTool: "OPEN_TOFU" });
    expect(() =>
      parseInput(
        stackInputSchema,
        {
          ...base,
          vendorConfig: { pulumi: { loginURL: "x", stackName: "y" } },
        },
        "stackCreate input",
      ),
    ).toThrow(
      /stackCreate input.vendorConfig.pulumi: only OpenTofu\/Terraform/,
    );
  });

  it("rejects duplicate labels and a bad env var name with the path", () => {
    expect(() =>
      parseInput(
        stackInputSchema,
        { ...base, labels: ["a", "a"] },
        "stackCreate input",
      ),
    ).toThrow("stackCreate input.labels: labels must be unique");
    expect(() =>
      parseInput(
        configInputSchema,
        {
          id: "A-B",
          type: "ENVIRONMENT_VARIABLE",
          value: "",
          writeOnly: false,
        },
        "stackConfigAdd config",
      ),
    ).toThrow(/^stackConfigAdd config.id: "A-B" is not a valid/);
  });
});

describe("normalizeHooks", () => {
  it("fills missing lists and drops unknown keys", () => {
    const h = normalizeHooks({ beforeInit: ["a"], bogus: ["x"] });
    expect(h.beforeInit).toEqual(["a"]);
    expect(h.afterRun).toEqual([]);
    expect("bogus" in h).toBe(false);
  });
});
