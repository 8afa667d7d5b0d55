export type RoleName = "api" | "drain" | "scheduler";

/**
 * A started part of the process: a role, or the health listener beside roles without
 * the api role. `stop` finishes in-flight work and releases resources.
 */
export interface Role {
  name: RoleName | "health";
  stop(): Promise<void>;
}
