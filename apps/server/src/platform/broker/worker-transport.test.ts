import { randomUUID } from "node:crypto";
import net from "node:net";
import mqtt from "mqtt";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { UnavailableError } from "../errors.ts";
import { MqttClientTransport, topicMatches } from "./worker-transport.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

const log = pino({ level: "silent" });

function isPortOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(500);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const mosquittoUp = !skipWithout(
  "Mosquitto",
  (await isPortOpen(1883)) ? null : "nothing answers on 127.0.0.1:1883",
  SETUP.mosquitto,
);

describe("topicMatches", () => {
  it("follows MQTT wildcard rules", () => {
    expect(topicMatches("ns/writeonly/+/+", "ns/writeonly/wp/wkr")).toBe(true);
    expect(topicMatches("ns/writeonly/+/+", "ns/writeonly/wp")).toBe(false);
    expect(topicMatches("ns/writeonly/+/+", "ns/writeonly/wp/wkr/x")).toBe(
      false,
    );
    expect(topicMatches("ns/#", "ns")).toBe(true);
    expect(topicMatches("ns/#", "ns/a/b")).toBe(true);
    expect(topicMatches("#", "$SYS/x")).toBe(false);
    expect(topicMatches("a/b", "a/c")).toBe(false);
  });
});

describe("MqttClientTransport against Mosquitto on 127.0.0.1:1883", () => {
  it.skipIf(!mosquittoUp)(
    "publishes to and receives from other clients",
    async () => {
      const ns = `t${randomUUID().slice(0, 8)}`;
      const transport = new MqttClientTransport({
        url: "mqtt://127.0.0.1:1883",
        log,
      });
      await transport.start();
      const worker = await mqtt.connectAsync("mqtt://127.0.0.1:1883", {
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      try {
        expect(transport.isHealthy()).toBe(true);
        const received: { topic: string; payload: string }[] = [];
        await transport.subscribe(`${ns}/writeonly/+/+`, (topic, payload) =>
          received.push({ topic, payload: payload.toString() }),
        );
        await transport.subscribe(`${ns}/other/#`, () =>
          received.push({ topic: "wrong handler", payload: "" }),
        );

        await worker.publishAsync(`${ns}/writeonly/wp_1/wkr_1`, "from worker", {
          qos: 1,
        });
        await expect
          .poll(() => received)
          .toEqual([
            { topic: `${ns}/writeonly/wp_1/wkr_1`, payload: "from worker" },
          ]);

        await worker.subscribeAsync(`${ns}/readonly/wp_1/wkr_1`, { qos: 1 });
        const incoming = new Promise<string>((resolve) =>
          worker.once("message", (_t, p) => resolve(p.toString())),
        );
        await transport.publish(`${ns}/readonly/wp_1/wkr_1`, { type: "hello" });
        expect(await incoming).toBe('{"type":"hello"}');
      } finally {
        await worker.endAsync();
        await transport.stop();
      }
      expect(transport.isHealthy()).toBe(false);
      await expect(
        transport.publish(`${ns}/readonly/wp_1/wkr_1`, "x"),
      ).rejects.toBeInstanceOf(UnavailableError);
    },
  );

  it("gives up on an unreachable broker after the connect timeout", async () => {
    const transport = new MqttClientTransport({
      url: "mqtt://127.0.0.1:1",
      log,
      connectTimeoutMs: 300,
      reconnectPeriodMs: 50,
    });
    await expect(transport.start()).rejects.toThrow(
      /no connection to the MQTT broker at mqtt:\/\/127.0.0.1:1 after 300 ms/,
    );
    expect(transport.isHealthy()).toBe(false);
  });
});
