/** The protocol version every message carries as `v`; see messages.ts for the rules. */
export const PROTOCOL_VERSION = 1;
