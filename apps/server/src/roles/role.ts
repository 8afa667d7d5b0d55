export type RoleName = "api" | "drain" | "scheduler";

/** A started process role; `stop` finishes in-flight work and releases resources. */
export interface Role {
  name: RoleName;
  stop(): Promise<void>;
}
