import { describe, expect, it } from "vitest";
import {
  isResourceAddress,
  MAX_RUNTIME_CONFIG_YAML_CHARS,
  runAssignSpecSchema,
  runEventSchema,
  runLogChunkSchema,
  type RunAssignSpec,
} from "./run-messages.ts";

const spec: RunAssignSpec = {
  runId: "run_1",
  stackId: "stk_1",
  runType: "TRACKED",
  phase: "plan",
  repository: {
    url: "https://git.example/r.git",
    commitSha: null,
    branch: "main",
  },
  projectRoot: "",
  tool: { kind: "tofu", version: null },
  environment: [],
  mountedFiles: [],
  hooks: {},
  stateBackend: null,
  command: null,
  skipInit: false,
  computed: {},
};

describe("the run's runtime configuration in the spec", () => {
  it("is optional and limited in size, with the field named when too long", () => {
    expect(runAssignSpecSchema.parse(spec).runtimeConfigYaml).toBeUndefined();
    const yaml = "version: 1\n";
    expect(
      runAssignSpecSchema.parse({ ...spec, runtimeConfigYaml: yaml })
        .runtimeConfigYaml,
    ).toBe(yaml);
    const tooLong = runAssignSpecSchema.safeParse({
      ...spec,
      runtimeConfigYaml: "#".repeat(MAX_RUNTIME_CONFIG_YAML_CHARS + 1),
    });
    expect(tooLong.success).toBe(false);
    expect(tooLong.error?.issues[0]?.path).toEqual(["runtimeConfigYaml"]);
  });
});

describe("resource addresses of a targeted replan", () => {
  it("accepts the address forms -target takes", () => {
    for (const address of [
      "terraform_data.a",
      "aws_instance.web[0]",
      'aws_instance.web["blue"]',
      "data.aws_ami.ubuntu",
      "module.net",
      'module.net["eu"].module.subnets[2].aws_subnet.this["a-1"]',
    ])
      expect(isResourceAddress(address), address).toBe(true);
  });

  it("refuses flags, whitespace, shell syntax and broken indexes", () => {
    for (const address of [
      "",
      "-destroy",
      "-target=a.b",
      "terraform_data",
      "terraform_data.a b",
      "a.b;rm -rf /",
      "a.b$(id)",
      "a.b`id`",
      'a.b["x"y"]',
      'a.b["\\"]',
      "a.b[x]",
      "a.b\nc.d",
      "module.",
      "a.b.c",
      `a.${"b".repeat(1100)}`,
    ])
      expect(isResourceAddress(address), JSON.stringify(address)).toBe(false);
  });

  it("carries replanTargets in the spec and names a bad one", () => {
    expect(
      runAssignSpecSchema.parse({
        ...spec,
        replanTargets: ["terraform_data.a"],
      }).replanTargets,
    ).toEqual(["terraform_data.a"]);
    expect(runAssignSpecSchema.parse(spec).replanTargets).toBeUndefined();
    const bad = runAssignSpecSchema.safeParse({
      ...spec,
      replanTargets: ["terraform_data.a", "--destroy"],
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]).toMatchObject({
      path: ["replanTargets", 1],
      message: expect.stringContaining('"--destroy" is not a resource address'),
    });
  });

  it("lets a replan's logs and state reports name PREPARING_REPLAN", () => {
    expect(
      runLogChunkSchema.parse({
        assignment: 3,
        state: "PREPARING_REPLAN",
        seq: 0,
        text: "init\n",
      }).state,
    ).toBe("PREPARING_REPLAN");
    expect(
      runEventSchema.parse({
        type: "state",
        assignment: 3,
        state: "PREPARING_REPLAN",
      }),
    ).toMatchObject({ state: "PREPARING_REPLAN" });
  });
});
