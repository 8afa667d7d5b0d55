import { describe, expect, it } from "vitest";
import {
  documentedDefault,
  schemaDefault,
  settings,
} from "./config-reference.ts";

describe("config reference defaults", () => {
  it("states a default in words only where the schema has none or null", () => {
    for (const s of settings.filter((s) => s.unsetMeans !== undefined)) {
      const found = schemaDefault(s.key);
      expect(found?.value ?? null, s.key).toBeNull();
    }
  });

  it("takes every other default from the schema, formatted as the setting is written", () => {
    const byKey = new Map(settings.map((s) => [s.key, s]));
    const doc = (key: string) => documentedDefault(byKey.get(key)!);
    expect(doc("server.port")).toBe("1983");
    expect(doc("server.roles")).toBe("api,drain,scheduler");
    expect(doc("server.trustedProxies")).toBe("none");
    expect(doc("objectStorage.buckets.largeQueueMessages")).toBe(
      "large-queue-messages",
    );
    expect(doc("objectStorage.expirationDays.runLogs")).toBe("60");
    expect(doc("policies.timeoutsMs.plan")).toBe("45s");
    expect(doc("policies.timeoutsMs.combined")).toBe("5m");
    expect(doc("repositories.allowLocal")).toBe(
      "false (true under `stackyard up`)",
    );
    expect(doc("database.url")).toBe("embedded Postgres");
  });

  it("finds the setting's path in the schema", () => {
    for (const s of settings) {
      if (s.unsetMeans !== undefined) continue;
      expect(schemaDefault(s.key), s.key).toBeDefined();
    }
  });
});
