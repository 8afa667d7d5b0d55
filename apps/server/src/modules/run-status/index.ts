/**
 * Run states: the states and run types and every named set of states, dependency-free
 * (like otf's `runstatus`), so that every module, whatever its place in the module order,
 * and the SQL predicates of the migrations (held to these sets by run-status.db.test.ts)
 * share one definition. The transition rules live in the runs module (runs/run.ts).
 * Owns no table, job or topic.
 */
export * from "./run-status.ts";
