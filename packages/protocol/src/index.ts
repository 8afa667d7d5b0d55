/**
 * The wire contract between the server and launchers: MQTT topic names, the JSON
 * messages on them (zod schemas, versioned with `v`), and the worker pool token format.
 * Both sides import only from here, so a change to the protocol is one change in one
 * place. Holds no I/O and no transport: sending and receiving belong to the callers.
 */
export * from "./topics.ts";
export * from "./messages.ts";
export * from "./pool-token.ts";
export * from "./sealed-box.ts";
export * from "./run-messages.ts";
export * from "./runtime-config.ts";
export * from "./url-redaction.ts";
export * from "./exact-json.ts";
