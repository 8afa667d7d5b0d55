/**
 * MQTT topic names between the server and launchers, after Spacelift's layout:
 *
 * - `<ns>/readonly/<poolId>/<workerId>`  server → worker (the worker may only subscribe)
 * - `<ns>/writeonly/<poolId>/<workerId>` worker → server (the worker may only publish)
 *
 * "readonly" and "writeonly" are named from the worker's side. The broker ACL relies on
 * every segment being a single topic level, so ids and the namespace are restricted to
 * characters that can never be a separator (`/`) or a wildcard (`+`, `#`).
 */

export const DEFAULT_NAMESPACE = "stackyard";

/** Allowed characters for the namespace, pool ids and worker ids (one topic level each). */
export const TOPIC_SEGMENT_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

export type TopicDirection = "readonly" | "writeonly";

export interface WorkerTopic {
  direction: TopicDirection;
  poolId: string;
  workerId: string;
}

export function isTopicSegment(value: string): boolean {
  return TOPIC_SEGMENT_PATTERN.test(value);
}

function workerTopic(
  direction: TopicDirection,
  namespace: string,
  poolId: string,
  workerId: string,
): string {
  for (const [name, value] of [
    ["namespace", namespace],
    ["pool id", poolId],
    ["worker id", workerId],
  ] as const) {
    if (!isTopicSegment(value)) {
      throw new Error(
        `${name} ${JSON.stringify(value)} cannot be used in a topic: use 1-128 of A-Z a-z 0-9 _ . -`,
      );
    }
  }
  return `${namespace}/${direction}/${poolId}/${workerId}`;
}

/** Server → worker topic. */
export function readonlyTopic(
  namespace: string,
  poolId: string,
  workerId: string,
): string {
  return workerTopic("readonly", namespace, poolId, workerId);
}

/** Worker → server topic. */
export function writeonlyTopic(
  namespace: string,
  poolId: string,
  workerId: string,
): string {
  return workerTopic("writeonly", namespace, poolId, workerId);
}

/** The server's subscription: every worker of every pool. */
export function allWritesFilter(namespace: string): string {
  return `${namespace}/writeonly/+/+`;
}

/** Splits a concrete worker topic of `namespace`; null for anything else. */
export function parseWorkerTopic(
  namespace: string,
  topic: string,
): WorkerTopic | null {
  const parts = topic.split("/");
  if (parts.length !== 4) return null;
  const [ns, direction, poolId, workerId] = parts as [
    string,
    string,
    string,
    string,
  ];
  if (ns !== namespace) return null;
  if (direction !== "readonly" && direction !== "writeonly") return null;
  if (!isTopicSegment(poolId) || !isTopicSegment(workerId)) return null;
  return { direction, poolId, workerId };
}
