import { describe, expect, it } from "vitest";
import {
  allWritesFilter,
  parseWorkerTopic,
  readonlyTopic,
  writeonlyTopic,
} from "./topics.ts";

describe("topics", () => {
  it("builds the readonly and writeonly topics of a worker", () => {
    expect(readonlyTopic("stackyard", "wp_1", "wkr_2")).toBe(
      "stackyard/readonly/wp_1/wkr_2",
    );
    expect(writeonlyTopic("stackyard", "wp_1", "wkr_2")).toBe(
      "stackyard/writeonly/wp_1/wkr_2",
    );
    expect(allWritesFilter("ns")).toBe("ns/writeonly/+/+");
  });

  it("refuses ids that would change the topic structure", () => {
    expect(() => readonlyTopic("stackyard", "wp_1", "+")).toThrow(
      /worker id "\+" cannot be used/,
    );
    expect(() => writeonlyTopic("stackyard", "a/b", "w")).toThrow(/pool id/);
    expect(() => writeonlyTopic("", "p", "w")).toThrow(/namespace/);
  });

  it("parses worker topics of its namespace only", () => {
    expect(parseWorkerTopic("ns", "ns/writeonly/wp_1/wkr_2")).toEqual({
      direction: "writeonly",
      poolId: "wp_1",
      workerId: "wkr_2",
    });
    expect(parseWorkerTopic("ns", "other/writeonly/wp_1/wkr_2")).toBeNull();
    expect(parseWorkerTopic("ns", "ns/sideways/wp_1/wkr_2")).toBeNull();
    expect(parseWorkerTopic("ns", "ns/writeonly/wp_1")).toBeNull();
    expect(parseWorkerTopic("ns", "ns/writeonly/wp_1/wkr_2/extra")).toBeNull();
  });
});
