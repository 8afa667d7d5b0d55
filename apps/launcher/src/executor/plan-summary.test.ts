import { describe, expect, it } from "vitest";
import {
  parseExact,
  planDocumentSchema,
  stringifyExact,
} from "@stackyard/protocol";
import { LogMasker } from "./log-masker.ts";
import {
  planDocumentOf,
  SENSITIVE,
  summarizePlan,
  UNKNOWN,
} from "./plan-summary.ts";

describe("summarizePlan", () => {
  it("counts a replacement in add and destroy and skips no-ops and reads", () => {
    const summary = summarizePlan(
      {
        resource_changes: [
          { address: "a", change: { actions: ["delete", "create"] } },
          { address: "b", change: { actions: ["update"] } },
          { address: "c", change: { actions: ["no-op"] } },
          { address: "data.d", change: { actions: ["read"] } },
        ],
        output_changes: {
          x: { actions: ["no-op"] },
          y: { actions: ["update"] },
        },
      },
      true,
      (s) => s,
    );
    expect(summary).toMatchObject({ add: 1, change: 1, destroy: 1 });
    expect(summary.resources.map((r) => r.address)).toEqual([
      "a",
      "b",
      "data.d",
    ]);
    expect(summary.outputs).toEqual([{ name: "y", actions: ["update"] }]);
  });

  it("redacts sensitive and unknown values and masks strings", () => {
    const summary = summarizePlan(
      {
        resource_changes: [
          {
            address: "r",
            change: {
              actions: ["update"],
              before: { password: "old-pw", tags: ["t1", "leak-me"], id: "i" },
              before_sensitive: { password: true, tags: [false, false] },
              after: { password: "new-pw", tags: ["t1", "leak-me"], id: null },
              after_sensitive: { password: true },
              after_unknown: { id: true, computed: true },
            },
          },
        ],
      },
      true,
      (s) => s.replaceAll("leak-me", "*****"),
    );
    expect(summary.resources[0]).toEqual({
      address: "r",
      actions: ["update"],
      before: { password: SENSITIVE, tags: ["t1", "*****"], id: "i" },
      after: {
        password: SENSITIVE,
        tags: ["t1", "*****"],
        id: UNKNOWN,
        computed: UNKNOWN,
      },
    });
  });
});

describe("planDocumentOf", () => {
  const showJson = {
    format_version: "1.2",
    terraform_version: "1.9.0",
    resource_changes: [
      {
        address: "aws_db_instance.main",
        mode: "managed",
        type: "aws_db_instance",
        name: "main",
        provider_name: "registry.opentofu.org/hashicorp/aws",
        change: {
          actions: ["update"],
          before: {
            password: "old-pw",
            tags: { owner: "team", token: "s3cr3t-token", "s3cr3t-token": "k" },
            nested: [{ key: "a", secret: "deep-old" }, { key: "b" }],
            port: 5432,
          },
          before_sensitive: {
            password: true,
            nested: [{ secret: true }, {}],
          },
          after: {
            password: "new-pw",
            tags: { owner: "team", token: "s3cr3t-token" },
            nested: [
              { key: "a", secret: "deep-new" },
              { key: "b", secret: null },
            ],
            port: 5433,
            endpoint: null,
          },
          after_sensitive: {
            password: true,
            nested: [{ secret: true }, { secret: true }],
          },
          after_unknown: { endpoint: true },
        },
      },
      {
        address: "terraform_data.kept",
        previous_address: "terraform_data.old",
        type: "terraform_data",
        name: "kept",
        provider_name: "terraform.io/builtin/terraform",
        change: { actions: ["no-op"], before: { a: 1 }, after: { a: 1 } },
      },
    ],
  };

  it("replaces every value marked sensitive, at any depth, and masks run secrets", () => {
    const masker = new LogMasker(["s3cr3t-token"]);
    const doc = planDocumentOf(showJson, (s) => masker.mask(s));
    expect(planDocumentSchema.parse(doc)).toEqual(doc);
    expect(doc.terraform_version).toBe("1.9.0");
    const [db] = doc.resource_changes;
    expect(db).toEqual({
      address: "aws_db_instance.main",
      mode: "managed",
      type: "aws_db_instance",
      name: "main",
      provider_name: "registry.opentofu.org/hashicorp/aws",
      change: {
        actions: ["update"],
        before: {
          password: "(sensitive)",
          tags: { owner: "team", token: "*****", "*****": "k" },
          nested: [{ key: "a", secret: "(sensitive)" }, { key: "b" }],
          port: 5432,
        },
        after: {
          password: "(sensitive)",
          tags: { owner: "team", token: "*****" },
          nested: [
            { key: "a", secret: "(sensitive)" },
            { key: "b", secret: "(sensitive)" },
          ],
          port: 5433,
          endpoint: "(known after apply)",
        },
      },
    });
    const text = JSON.stringify(doc);
    for (const leaked of ["old-pw", "new-pw", "deep-old", "deep-new", "s3cr3t"])
      expect(text).not.toContain(leaked);
  });

  it("keeps no-op changes and moved addresses as plan policies see them", () => {
    const doc = planDocumentOf(showJson, (s) => s);
    expect(doc.resource_changes[1]).toEqual({
      address: "terraform_data.kept",
      previous_address: "terraform_data.old",
      type: "terraform_data",
      name: "kept",
      provider_name: "terraform.io/builtin/terraform",
      change: { actions: ["no-op"], before: { a: 1 }, after: { a: 1 } },
    });
  });

  it("masks secrets in addresses (for_each keys)", () => {
    const masker = new LogMasker(["s3cr3t-token"]);
    const doc = planDocumentOf(
      {
        terraform_version: "1.9.0",
        resource_changes: [
          {
            address: 'x.y["s3cr3t-token"]',
            previous_address: 'x.old["s3cr3t-token"]',
            type: "x",
            name: "y",
            provider_name: "p",
            change: { actions: ["create"], before: null, after: {} },
          },
        ],
      },
      (s) => masker.mask(s),
    );
    expect(doc.resource_changes[0]).toMatchObject({
      address: 'x.y["*****"]',
      previous_address: 'x.old["*****"]',
    });
  });

  it("masks a whole value marked sensitive, even a map or a list", () => {
    const doc = planDocumentOf(
      {
        terraform_version: "1.9.0",
        resource_changes: [
          {
            address: "x.y",
            type: "x",
            name: "y",
            provider_name: "p",
            change: {
              actions: ["create"],
              before: null,
              after: { map: { a: "1" }, list: ["p", "q"] },
              after_sensitive: { map: true, list: true },
            },
          },
        ],
      },
      (s) => s,
    );
    expect(doc.resource_changes[0]?.change.after).toEqual({
      map: "(sensitive)",
      list: "(sensitive)",
    });
  });
});

describe("planDocumentOf numbers", () => {
  it("keeps tofu's numbers exactly as written, through redaction and upload", () => {
    const shown = parseExact(
      '{"terraform_version":"1.8.0","resource_changes":[{"address":"terraform_data.bill","type":"terraform_data","name":"bill","provider_name":"p","change":{"actions":["create"],"before":null,"after":{"cost":101.00,"id":1700000000123456789,"tags":{"n":"1"}},"after_sensitive":{"tags":{}},"after_unknown":{}}}]}',
    );
    const doc = planDocumentOf(shown, (s) => s);
    expect(stringifyExact(doc.resource_changes[0]!.change.after)).toBe(
      '{"cost":101.00,"id":1700000000123456789,"tags":{"n":"1"}}',
    );
  });
});
