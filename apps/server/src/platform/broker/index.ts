/**
 * MQTT plumbing between the server and workers: the built-in aedes broker (with the
 * per-worker topic ACL) and the `WorkerTransport` the server uses over either the
 * built-in broker or an external one. No domain knowledge: credentials are checked by a
 * function the workers module injects, and message contents stay opaque.
 */
export {
  BuiltinBroker,
  type BuiltinBrokerOptions,
  type WorkerIdentity,
} from "./builtin-broker.ts";
export {
  InProcessTransport,
  MqttClientTransport,
  encodePayload,
  topicMatches,
  type MqttClientTransportOptions,
  type WorkerTransport,
} from "./worker-transport.ts";
