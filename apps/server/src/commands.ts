/**
 * Operator commands behind the `stackyard` CLI: `up`, `server`, `migrate`,
 * `config validate` and `broker acl`. The CLI parses flags; these functions own what
 * happens next and return a process exit code. Long-running commands resolve once they
 * have stopped.
 */
export { upCommand, type UpFlags } from "./commands/up.ts";
export {
  serverCommand,
  migrateCommand,
  configValidateCommand,
} from "./commands/operator.ts";
export { brokerAclCommand } from "./commands/broker-acl.ts";
export { STACKYARD_VERSION } from "./version.ts";
