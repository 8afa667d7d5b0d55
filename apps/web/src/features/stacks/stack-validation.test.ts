import { describe, expect, it } from "vitest";
import {
  fieldOfServerError,
  validateStackForm,
  type StackForm,
} from "./stack-validation.ts";

const good: StackForm = {
  name: "Prod network",
  repository: "https://github.com/acme/infra.git",
  branch: "main",
  projectRoot: "envs/prod",
  autodeploy: false,
  tool: "OPEN_TOFU",
};

describe("validateStackForm", () => {
  it("accepts a complete form and the repository forms git knows", () => {
    expect(validateStackForm(good)).toEqual({});
    for (const repository of [
      "/tmp/repo",
      "file:///srv/git/infra",
      "git@github.com:acme/infra.git",
      "ssh://git@host/acme/infra.git",
    ])
      expect(validateStackForm({ ...good, repository })).toEqual({});
  });

  it("explains each problem in words, per field", () => {
    const errors = validateStackForm({
      ...good,
      name: " ",
      repository: "not a repo",
      branch: "feature..x",
      projectRoot: "/abs",
    });
    expect(Object.keys(errors).sort()).toEqual([
      "branch",
      "name",
      "projectRoot",
      "repository",
    ]);
    expect(errors.name).toMatch(/name/i);
    expect(errors.repository).toMatch(/spaces/);
    expect(errors.projectRoot).toMatch(/relative/);
  });

  it("rejects project roots that leave the repository", () => {
    expect(
      validateStackForm({ ...good, projectRoot: "a/../../b" }),
    ).toHaveProperty("projectRoot");
  });

  it("maps server refusals to their field", () => {
    expect(
      fieldOfServerError("stackCreate input.branch: must not be empty"),
    ).toBe("branch");
    expect(fieldOfServerError("a stack named x already exists")).toBeNull();
  });
});
