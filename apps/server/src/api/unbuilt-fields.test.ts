import { buildSchema, isObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { SCHEMA_SDL } from "./graphql.ts";
import { UNBUILT_FIELDS } from "./unbuilt-fields.ts";

describe("UNBUILT_FIELDS", () => {
  it("names only fields the SDL lacks, on types the SDL has", () => {
    const schema = buildSchema(SCHEMA_SDL);
    for (const key of Object.keys(UNBUILT_FIELDS)) {
      const [typeName, field] = key.split(".") as [string, string];
      const type = schema.getType(typeName);
      expect(isObjectType(type), `${typeName} is an object type`).toBe(true);
      if (isObjectType(type))
        expect(
          type.getFields()[field],
          `${key} is in the SDL now: remove it from UNBUILT_FIELDS`,
        ).toBeUndefined();
    }
  });
});
