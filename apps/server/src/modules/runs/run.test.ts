import { describe, expect, it } from "vitest";
import { ConflictError } from "../../platform/errors.ts";
import {
  REACHABLE_STATES,
  RUN_ACTIONS,
  RUN_STATES,
  RUN_TYPES,
  TERMINAL_STATES,
  actionError,
  allowedActions,
  assertActionAllowed,
  canPrioritize,
  canRetry,
  holdsStackLock,
  isBlocking,
  isTerminal,
  nextState,
  type RunAction,
  type RunEvent,
  type RunSnapshot,
  type RunState,
  type RunType,
} from "./run.ts";
import {
  IllegalRunTransitionError,
  RunActionNotAllowedError,
} from "./run-errors.ts";
import {
  AWAITING_PICKUP_STATES,
  AWAITING_WORKER_STATES,
} from "../run-status/index.ts";
import { phaseOf, walkTo } from "./run-phases.ts";

function run(
  type: RunType,
  state: RunState,
  flags: Partial<RunSnapshot> = {},
): RunSnapshot {
  return { id: "run_1", type, state, ...flags };
}

type Planned = Extract<RunEvent, { type: "planned" }>;
function planned(overrides: Partial<Omit<Planned, "type">> = {}): Planned {
  return {
    type: "planned",
    hasChanges: true,
    warned: false,
    reviewRequired: false,
    autodeploy: false,
    stackLocked: false,
    ...overrides,
  };
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to throw");
}

const bools = [false, true] as const;
const ALL_EVENTS: readonly RunEvent[] = [
  { type: "ready" },
  { type: "requeued" },
  { type: "skipped" },
  { type: "claimed" },
  { type: "prepared" },
  { type: "initialized" },
  ...bools.flatMap((hasChanges) =>
    bools.flatMap((warned) =>
      bools.flatMap((reviewRequired) =>
        bools.flatMap((autodeploy) =>
          bools.map((stackLocked) =>
            planned({
              hasChanges,
              warned,
              reviewRequired,
              autodeploy,
              stackLocked,
            }),
          ),
        ),
      ),
    ),
  ),
  { type: "applied" },
  { type: "performed" },
  { type: "destroyed" },
  { type: "failed", reason: "boom" },
  { type: "workerLost" },
  { type: "confirm" },
  { type: "discard" },
  { type: "cancel" },
  { type: "stop" },
  { type: "replan" },
  { type: "review", decision: "APPROVE" },
  { type: "review", decision: "REJECT" },
];

describe("run states and types", () => {
  it("lists every value of the GraphQL RunState enum", () => {
    expect([...RUN_STATES].sort()).toEqual(
      [
        "QUEUED",
        "CANCELED",
        "INITIALIZING",
        "PLANNING",
        "FAILED",
        "FINISHED",
        "UNCONFIRMED",
        "DISCARDED",
        "CONFIRMED",
        "APPLYING",
        "PERFORMING",
        "STOPPED",
        "DESTROYING",
        "PREPARING",
        "PREPARING_APPLY",
        "SKIPPED",
        "REPLAN_REQUESTED",
        "PENDING",
        "READY",
        "PREPARING_REPLAN",
        "PENDING_REVIEW",
      ].sort(),
    );
  });

  it("treats exactly CANCELED, DISCARDED, FAILED, FINISHED, SKIPPED and STOPPED as terminal", () => {
    expect(RUN_STATES.filter(isTerminal).sort()).toEqual(
      [
        "CANCELED",
        "DISCARDED",
        "FAILED",
        "FINISHED",
        "SKIPPED",
        "STOPPED",
      ].sort(),
    );
    expect([...TERMINAL_STATES].sort()).toEqual(
      RUN_STATES.filter(isTerminal).sort(),
    );
  });

  it("makes tracked, task and destroy runs blocking and proposed runs not", () => {
    expect(RUN_TYPES.filter(isBlocking)).toEqual([
      "TRACKED",
      "TASK",
      "DESTROY",
    ]);
  });

  it("holds the stack lock from READY until a terminal state, for blocking runs only", () => {
    expect(holdsStackLock(run("TRACKED", "QUEUED"))).toBe(false);
    expect(holdsStackLock(run("TRACKED", "READY"))).toBe(true);
    expect(holdsStackLock(run("TRACKED", "UNCONFIRMED"))).toBe(true);
    expect(holdsStackLock(run("TASK", "PERFORMING"))).toBe(true);
    expect(holdsStackLock(run("DESTROY", "DESTROYING"))).toBe(true);
    expect(holdsStackLock(run("TRACKED", "FAILED"))).toBe(false);
    expect(holdsStackLock(run("PROPOSED", "PLANNING"))).toBe(false);
  });
});

describe("common path to a worker", () => {
  it("makes a queued run ready", () => {
    expect(nextState(run("TRACKED", "QUEUED"), { type: "ready" })).toBe(
      "READY",
    );
  });

  it("keeps a queued run awaiting approval from becoming ready and says why", () => {
    const err = caught(() =>
      nextState(run("TRACKED", "QUEUED", { awaitingApproval: true }), {
        type: "ready",
      }),
    );
    expect(err).toBeInstanceOf(IllegalRunTransitionError);
    expect((err as Error).message).toMatch(/waiting for an approval policy/);
  });

  it("puts a ready run that no worker claimed back in the queue", () => {
    expect(nextState(run("TRACKED", "READY"), { type: "requeued" })).toBe(
      "QUEUED",
    );
  });

  it("skips a queued run that its upstream dependencies made unnecessary", () => {
    expect(nextState(run("TRACKED", "QUEUED"), { type: "skipped" })).toBe(
      "SKIPPED",
    );
  });

  it("hands a ready run to the worker that claims it", () => {
    expect(nextState(run("PROPOSED", "READY"), { type: "claimed" })).toBe(
      "PREPARING",
    );
  });

  it("refuses a claim for a run that was canceled meanwhile", () => {
    expect(() =>
      nextState(run("TRACKED", "CANCELED"), { type: "claimed" }),
    ).toThrow(IllegalRunTransitionError);
  });

  it("starts initializing once the worker is prepared", () => {
    expect(nextState(run("TRACKED", "PREPARING"), { type: "prepared" })).toBe(
      "INITIALIZING",
    );
  });
});

describe("proposed runs", () => {
  it("plans once initialized", () => {
    expect(
      nextState(run("PROPOSED", "INITIALIZING"), { type: "initialized" }),
    ).toBe("PLANNING");
  });

  it("finishes after planning", () => {
    expect(nextState(run("PROPOSED", "PLANNING"), planned())).toBe("FINISHED");
  });

  it("finishes a warned plan when no review is required", () => {
    expect(
      nextState(run("PROPOSED", "PLANNING"), planned({ warned: true })),
    ).toBe("FINISHED");
  });

  it("waits in PENDING_REVIEW when a plan policy warned and reviews are required", () => {
    expect(
      nextState(
        run("PROPOSED", "PLANNING"),
        planned({ warned: true, reviewRequired: true }),
      ),
    ).toBe("PENDING_REVIEW");
  });

  it("never applies, even with changes and autodeploy on", () => {
    expect(
      nextState(run("PROPOSED", "PLANNING"), planned({ autodeploy: true })),
    ).toBe("FINISHED");
  });

  it("finishes a pending-review run when approved", () => {
    expect(
      nextState(run("PROPOSED", "PENDING_REVIEW"), {
        type: "review",
        decision: "APPROVE",
      }),
    ).toBe("FINISHED");
  });

  it("fails a pending-review run when rejected", () => {
    expect(
      nextState(run("PROPOSED", "PENDING_REVIEW"), {
        type: "review",
        decision: "REJECT",
      }),
    ).toBe("FAILED");
  });
});

describe("tracked runs", () => {
  it("plans once initialized", () => {
    expect(
      nextState(run("TRACKED", "INITIALIZING"), { type: "initialized" }),
    ).toBe("PLANNING");
  });

  it("finishes when the plan has no changes", () => {
    expect(
      nextState(
        run("TRACKED", "PLANNING"),
        planned({ hasChanges: false, autodeploy: true }),
      ),
    ).toBe("FINISHED");
  });

  it("applies straight away with autodeploy on, no warning and the stack unlocked", () => {
    expect(
      nextState(run("TRACKED", "PLANNING"), planned({ autodeploy: true })),
    ).toBe("APPLYING");
  });

  it("waits for confirmation when autodeploy is off", () => {
    expect(nextState(run("TRACKED", "PLANNING"), planned())).toBe(
      "UNCONFIRMED",
    );
  });

  it("waits for confirmation when a plan policy warned, even with autodeploy on", () => {
    expect(
      nextState(
        run("TRACKED", "PLANNING"),
        planned({ autodeploy: true, warned: true }),
      ),
    ).toBe("UNCONFIRMED");
  });

  it("waits for confirmation while someone else locks the stack, even with autodeploy on", () => {
    expect(
      nextState(
        run("TRACKED", "PLANNING"),
        planned({ autodeploy: true, stackLocked: true }),
      ),
    ).toBe("UNCONFIRMED");
  });

  it("confirms an unconfirmed tracked run", () => {
    expect(nextState(run("TRACKED", "UNCONFIRMED"), { type: "confirm" })).toBe(
      "CONFIRMED",
    );
  });

  it("refuses to confirm an unconfirmed run awaiting approval and says why", () => {
    const err = caught(() =>
      nextState(run("TRACKED", "UNCONFIRMED", { awaitingApproval: true }), {
        type: "confirm",
      }),
    );
    expect(err).toBeInstanceOf(IllegalRunTransitionError);
    expect((err as Error).message).toBe(
      'Run run_1 (TRACKED) is in state UNCONFIRMED, but "confirm" is refused: It is waiting for an approval policy to approve it.',
    );
  });

  it("hands a confirmed run to a worker for its apply", () => {
    expect(nextState(run("TRACKED", "CONFIRMED"), { type: "claimed" })).toBe(
      "PREPARING_APPLY",
    );
  });

  it("applies once the apply handover is prepared", () => {
    expect(
      nextState(run("TRACKED", "PREPARING_APPLY"), { type: "prepared" }),
    ).toBe("APPLYING");
  });

  it("finishes when the apply succeeds", () => {
    expect(nextState(run("TRACKED", "APPLYING"), { type: "applied" })).toBe(
      "FINISHED",
    );
  });

  it("discards an unconfirmed run", () => {
    expect(nextState(run("TRACKED", "UNCONFIRMED"), { type: "discard" })).toBe(
      "DISCARDED",
    );
  });

  it("requests a targeted replan of an unconfirmed run", () => {
    expect(nextState(run("TRACKED", "UNCONFIRMED"), { type: "replan" })).toBe(
      "REPLAN_REQUESTED",
    );
  });

  it("hands a requested replan to a worker", () => {
    expect(
      nextState(run("TRACKED", "REPLAN_REQUESTED"), { type: "claimed" }),
    ).toBe("PREPARING_REPLAN");
  });

  it("plans again once the replan handover is prepared", () => {
    expect(
      nextState(run("TRACKED", "PREPARING_REPLAN"), { type: "prepared" }),
    ).toBe("PLANNING");
  });

  it("keeps an approved unconfirmed run unconfirmed until someone confirms it", () => {
    expect(
      nextState(run("TRACKED", "UNCONFIRMED"), {
        type: "review",
        decision: "APPROVE",
      }),
    ).toBe("UNCONFIRMED");
  });

  it("fails an unconfirmed run whose review is rejected", () => {
    expect(
      nextState(run("TRACKED", "UNCONFIRMED"), {
        type: "review",
        decision: "REJECT",
      }),
    ).toBe("FAILED");
  });

  it("refuses to confirm a run that is still planning, naming the state that allows it", () => {
    expect(() =>
      nextState(run("TRACKED", "PLANNING"), { type: "confirm" }),
    ).toThrow(
      'Run run_1 (TRACKED) is in state PLANNING; "confirm" is allowed only in UNCONFIRMED.',
    );
  });
});

describe("task runs", () => {
  it("performs its command once initialized", () => {
    expect(
      nextState(run("TASK", "INITIALIZING"), { type: "initialized" }),
    ).toBe("PERFORMING");
  });

  it("performs straight after preparing when skipInit is set", () => {
    expect(
      nextState(run("TASK", "PREPARING", { skipInit: true }), {
        type: "prepared",
      }),
    ).toBe("PERFORMING");
  });

  it("ignores skipInit on other run types", () => {
    expect(
      nextState(run("TRACKED", "PREPARING", { skipInit: true }), {
        type: "prepared",
      }),
    ).toBe("INITIALIZING");
  });

  it("finishes when the command succeeds", () => {
    expect(nextState(run("TASK", "PERFORMING"), { type: "performed" })).toBe(
      "FINISHED",
    );
  });

  it("fails when the command fails", () => {
    expect(
      nextState(run("TASK", "PERFORMING"), {
        type: "failed",
        reason: "exit code 2",
      }),
    ).toBe("FAILED");
  });

  it("refuses a plan result and says no state of a task allows it", () => {
    expect(() => nextState(run("TASK", "PERFORMING"), planned())).toThrow(
      'Run run_1 (TASK) is in state PERFORMING; no state of a TASK run allows "planned".',
    );
  });
});

describe("destroy runs", () => {
  it("destroys once initialized", () => {
    expect(
      nextState(run("DESTROY", "INITIALIZING"), { type: "initialized" }),
    ).toBe("DESTROYING");
  });

  it("finishes when the destroy succeeds", () => {
    expect(nextState(run("DESTROY", "DESTROYING"), { type: "destroyed" })).toBe(
      "FINISHED",
    );
  });

  it("fails when the destroy fails", () => {
    expect(
      nextState(run("DESTROY", "DESTROYING"), {
        type: "failed",
        reason: "provider error",
      }),
    ).toBe("FAILED");
  });
});

describe("user exits before a run starts", () => {
  it.each(["QUEUED", "READY"] as const)("cancels a %s run", (state) => {
    expect(nextState(run("TRACKED", state), { type: "cancel" })).toBe(
      "CANCELED",
    );
  });

  it.each(["QUEUED", "READY"] as const)("discards a %s run", (state) => {
    expect(nextState(run("PROPOSED", state), { type: "discard" })).toBe(
      "DISCARDED",
    );
  });

  it("discards a run waiting for its replan", () => {
    expect(
      nextState(run("TRACKED", "REPLAN_REQUESTED"), { type: "discard" }),
    ).toBe("DISCARDED");
  });

  it("records an approval of a queued run without moving it", () => {
    expect(
      nextState(run("TASK", "QUEUED"), { type: "review", decision: "APPROVE" }),
    ).toBe("QUEUED");
  });

  it("fails a queued run whose review is rejected", () => {
    expect(
      nextState(run("TASK", "QUEUED"), { type: "review", decision: "REJECT" }),
    ).toBe("FAILED");
  });

  it("refuses to cancel a planning run and points to stop", () => {
    expect(() =>
      nextState(run("TRACKED", "PLANNING"), { type: "cancel" }),
    ).toThrow(
      /allowed only in QUEUED, READY\. It has already started; a running run is stopped, not canceled\./,
    );
  });
});

describe("stopping", () => {
  it.each([
    "PREPARING",
    "INITIALIZING",
    "PLANNING",
    "PREPARING_REPLAN",
  ] as const)(
    "stops a run while %s, before anything can change resources",
    (state) => {
      expect(nextState(run("TRACKED", state), { type: "stop" })).toBe(
        "STOPPED",
      );
    },
  );

  it("stops a task or destroy run while it initializes", () => {
    expect(nextState(run("TASK", "INITIALIZING"), { type: "stop" })).toBe(
      "STOPPED",
    );
    expect(nextState(run("DESTROY", "INITIALIZING"), { type: "stop" })).toBe(
      "STOPPED",
    );
  });

  it("refuses to stop a CONFIRMED run and says why", () => {
    const err = caught(() =>
      nextState(run("TRACKED", "CONFIRMED"), { type: "stop" }),
    );
    expect(err).toBeInstanceOf(IllegalRunTransitionError);
    expect((err as Error).message).toBe(
      'Run run_1 (TRACKED) is in state CONFIRMED; "stop" is allowed only in PREPARING, INITIALIZING, PLANNING, PREPARING_REPLAN. ' +
        "A CONFIRMED run cannot be stopped: confirming commits the plan to be applied, and the apply must end as FINISHED or FAILED.",
    );
  });

  it("refuses to stop an APPLYING run because the apply would be left half-done", () => {
    expect(() =>
      nextState(run("TRACKED", "APPLYING"), { type: "stop" }),
    ).toThrow(/half-changed/);
  });

  it("refuses to stop a PERFORMING task", () => {
    expect(() =>
      nextState(run("TASK", "PERFORMING"), { type: "stop" }),
    ).toThrow(/PERFORMING task cannot be stopped/);
  });

  it("refuses to stop a DESTROYING run", () => {
    expect(() =>
      nextState(run("DESTROY", "DESTROYING"), { type: "stop" }),
    ).toThrow(/half-deleted/);
  });

  it("refuses to stop a queued run and points to cancel or discard", () => {
    expect(() => nextState(run("TRACKED", "QUEUED"), { type: "stop" })).toThrow(
      /canceled or discarded, not stopped/,
    );
  });
});

describe("failures and stuck runs", () => {
  it("fails a run in every non-terminal state of every type, so no run can be stuck", () => {
    for (const type of RUN_TYPES) {
      for (const state of RUN_STATES.filter((s) => !isTerminal(s))) {
        expect(
          nextState(run(type, state), { type: "failed", reason: "timed out" }),
          `${type} ${state}`,
        ).toBe("FAILED");
      }
    }
  });

  it.each([
    "PREPARING",
    "INITIALIZING",
    "PLANNING",
    "PREPARING_APPLY",
    "APPLYING",
    "PREPARING_REPLAN",
  ] as const)("fails a run whose worker is lost while %s", (state) => {
    expect(nextState(run("TRACKED", state), { type: "workerLost" })).toBe(
      "FAILED",
    );
  });

  it("fails a task or destroy run whose worker is lost mid-command", () => {
    expect(nextState(run("TASK", "PERFORMING"), { type: "workerLost" })).toBe(
      "FAILED",
    );
    expect(
      nextState(run("DESTROY", "DESTROYING"), { type: "workerLost" }),
    ).toBe("FAILED");
  });

  it.each([
    "QUEUED",
    "READY",
    "UNCONFIRMED",
    "CONFIRMED",
    "REPLAN_REQUESTED",
  ] as const)(
    "refuses a lost-worker report for a %s run, which no worker holds",
    (state) => {
      expect(() =>
        nextState(run("TRACKED", state), { type: "workerLost" }),
      ).toThrow(IllegalRunTransitionError);
    },
  );

  it("never leaves a terminal state", () => {
    for (const type of RUN_TYPES) {
      for (const state of TERMINAL_STATES) {
        for (const event of ALL_EVENTS) {
          expect(
            () => nextState(run(type, state), event),
            `${type} ${state} ${event.type}`,
          ).toThrow(IllegalRunTransitionError);
        }
      }
    }
  });

  it("gives every state in which a run waits for the queue or a human a user exit", () => {
    const exits: readonly RunAction[] = ["discard", "cancel", "review"];
    const waiting = [
      run("TRACKED", "QUEUED"),
      run("TRACKED", "READY"),
      run("TRACKED", "UNCONFIRMED", { awaitingApproval: true }),
      run("TRACKED", "REPLAN_REQUESTED"),
      run("PROPOSED", "PENDING_REVIEW"),
    ];
    for (const r of waiting) {
      expect(
        allowedActions(r).some((a) => exits.includes(a)),
        r.state,
      ).toBe(true);
    }
  });
});

describe("state graph", () => {
  it.each(RUN_TYPES)(
    "reaches exactly the documented states of a %s run from QUEUED",
    (type) => {
      const seen = new Set<RunState>(["QUEUED"]);
      const pending: RunState[] = ["QUEUED"];
      for (
        let state = pending.pop();
        state !== undefined;
        state = pending.pop()
      ) {
        for (const skipInit of bools) {
          for (const event of ALL_EVENTS) {
            let next: RunState;
            try {
              next = nextState(run(type, state, { skipInit }), event);
            } catch {
              continue;
            }
            if (!seen.has(next)) {
              seen.add(next);
              pending.push(next);
            }
          }
        }
      }
      expect([...seen].sort()).toEqual([...REACHABLE_STATES[type]].sort());
    },
  );
});

describe("errors", () => {
  it("throws a ConflictError that names the state, the event and the states allowing it", () => {
    const err = caught(() =>
      nextState(run("TRACKED", "QUEUED"), { type: "applied" }),
    );
    expect(err).toBeInstanceOf(IllegalRunTransitionError);
    expect(err).toBeInstanceOf(ConflictError);
    const illegal = err as IllegalRunTransitionError;
    expect(illegal.code).toBe("CONFLICT");
    expect(illegal.httpStatus).toBe(409);
    expect(illegal.state).toBe("QUEUED");
    expect(illegal.event).toBe("applied");
    expect(illegal.allowedStates).toEqual(["APPLYING"]);
    expect(illegal.message).toBe(
      'Run run_1 (TRACKED) is in state QUEUED; "applied" is allowed only in APPLYING.',
    );
  });

  it("says a terminal run has already ended", () => {
    expect(() =>
      nextState(run("TRACKED", "FINISHED"), { type: "confirm" }),
    ).toThrow(
      'Run run_1 (TRACKED) is in state FINISHED; "confirm" is allowed only in UNCONFIRMED. The run has already ended (FINISHED is terminal).',
    );
  });

  it("leaves the run id out of the message when the snapshot has none", () => {
    expect(() =>
      nextState({ type: "PROPOSED", state: "PLANNING" }, { type: "confirm" }),
    ).toThrow(
      'Run (PROPOSED) is in state PLANNING; no state of a PROPOSED run allows "confirm". Only tracked runs wait for confirmation.',
    );
  });
});

describe("retry and prioritize", () => {
  it("allows retrying FAILED and STOPPED runs only", () => {
    expect(RUN_STATES.filter((state) => canRetry({ state })).sort()).toEqual([
      "FAILED",
      "STOPPED",
    ]);
  });

  it("refuses to retry a FINISHED run and says why", () => {
    expect(actionError(run("TRACKED", "FINISHED"), "retry")).toBe(
      'Run run_1 (TRACKED) is in state FINISHED; "retry" is allowed only in FAILED, STOPPED. A FINISHED run has nothing to retry.',
    );
  });

  it("refuses to retry a run that has not ended", () => {
    expect(actionError(run("TRACKED", "PLANNING"), "retry")).toMatch(
      /has not ended/,
    );
  });

  it("allows prioritizing only runs that have not started", () => {
    expect(
      RUN_STATES.filter((state) => canPrioritize({ state })).sort(),
    ).toEqual(["QUEUED", "READY"]);
    expect(actionError(run("PROPOSED", "PLANNING"), "prioritize")).toMatch(
      /already started/,
    );
  });

  it("throws RunActionNotAllowedError carrying the actionError message", () => {
    const err = caught(() =>
      assertActionAllowed(run("TRACKED", "CONFIRMED"), "stop"),
    );
    expect(err).toBeInstanceOf(RunActionNotAllowedError);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as RunActionNotAllowedError).action).toBe("stop");
    expect((err as Error).message).toBe(
      actionError(run("TRACKED", "CONFIRMED"), "stop"),
    );
  });

  it("accepts an allowed action silently", () => {
    expect(() =>
      assertActionAllowed(run("TRACKED", "UNCONFIRMED"), "confirm"),
    ).not.toThrow();
  });
});

describe("allowedActions", () => {
  const common: Partial<Record<RunState, readonly RunAction[]>> = {
    QUEUED: ["discard", "cancel", "prioritize", "review"],
    READY: ["discard", "cancel", "prioritize"],
    PREPARING: ["stop"],
    INITIALIZING: ["stop"],
    FINISHED: [],
    FAILED: ["retry"],
    STOPPED: ["retry"],
    CANCELED: [],
    DISCARDED: [],
    SKIPPED: [],
  };
  const expected: Record<
    RunType,
    Partial<Record<RunState, readonly RunAction[]>>
  > = {
    TRACKED: {
      ...common,
      PLANNING: ["stop"],
      UNCONFIRMED: ["confirm", "discard", "review", "replan"],
      CONFIRMED: [],
      PREPARING_APPLY: [],
      APPLYING: [],
      REPLAN_REQUESTED: ["discard"],
      PREPARING_REPLAN: ["stop"],
    },
    PROPOSED: { ...common, PLANNING: ["stop"], PENDING_REVIEW: ["review"] },
    TASK: { ...common, PERFORMING: [] },
    DESTROY: { ...common, DESTROYING: [] },
  };

  describe.each(RUN_TYPES)("for a %s run", (type) => {
    it.each(REACHABLE_STATES[type])(
      "offers the documented actions in %s",
      (state) => {
        expect(allowedActions(run(type, state))).toEqual(expected[type][state]);
      },
    );
  });

  it("withholds confirm while an approval policy has not approved the run", () => {
    expect(
      allowedActions(run("TRACKED", "UNCONFIRMED", { awaitingApproval: true })),
    ).toEqual(["discard", "review", "replan"]);
  });

  const eventsFor: Partial<Record<RunAction, readonly RunEvent[]>> = {
    confirm: [{ type: "confirm" }],
    discard: [{ type: "discard" }],
    cancel: [{ type: "cancel" }],
    stop: [{ type: "stop" }],
    replan: [{ type: "replan" }],
    review: [
      { type: "review", decision: "APPROVE" },
      { type: "review", decision: "REJECT" },
    ],
  };
  const cases = RUN_TYPES.flatMap((type) =>
    REACHABLE_STATES[type].flatMap((state) =>
      bools.map((awaitingApproval) => ({ type, state, awaitingApproval })),
    ),
  );

  it.each(cases)(
    "agrees with nextState, canRetry, canPrioritize and actionError for a $type run in $state (awaitingApproval: $awaitingApproval)",
    ({ type, state, awaitingApproval }) => {
      const r = run(type, state, { awaitingApproval });
      const allowed = allowedActions(r);
      for (const action of RUN_ACTIONS) {
        const isAllowed = allowed.includes(action);
        expect(actionError(r, action) === undefined, action).toBe(isAllowed);
        if (action === "retry") expect(canRetry(r), action).toBe(isAllowed);
        if (action === "prioritize")
          expect(canPrioritize(r), action).toBe(isAllowed);
        for (const event of eventsFor[action] ?? []) {
          if (isAllowed) {
            expect(
              () => nextState(r, event),
              `${action} via ${event.type}`,
            ).not.toThrow();
          } else {
            const err = caught(() => nextState(r, event));
            expect(err, action).toBeInstanceOf(IllegalRunTransitionError);
            expect((err as Error).message, action).toBe(actionError(r, action));
          }
        }
      }
    },
  );
});

describe("targeted replan through dispatch and worker reports", () => {
  it("every state the dispatcher hands to a worker accepts the claim, into a PREPARING* state", () => {
    for (const state of AWAITING_WORKER_STATES) {
      const claimed = nextState(run("TRACKED", state), { type: "claimed" });
      expect(AWAITING_PICKUP_STATES, state).toContain(claimed);
    }
    expect(
      nextState(run("TRACKED", "REPLAN_REQUESTED"), { type: "claimed" }),
    ).toBe("PREPARING_REPLAN");
  });

  it("a claimed replan runs the plan phase", () => {
    expect(phaseOf(run("TRACKED", "PREPARING_REPLAN"))).toBe("plan");
    expect(phaseOf(run("TRACKED", "PREPARING_APPLY"))).toBe("apply");
  });

  it("the worker's PLANNING report walks a replan straight from PREPARING_REPLAN; INITIALIZING is not on its path", () => {
    const replan = run("TRACKED", "PREPARING_REPLAN");
    expect(walkTo(replan, "PLANNING")).toEqual([
      { event: { type: "prepared" }, to: "PLANNING" },
    ]);
    expect(walkTo(replan, "INITIALIZING")).toBeNull();
    expect(walkTo(replan, "PREPARING_REPLAN")).toBeNull();
  });

  it("the replanned plan waits for confirmation again, and is FINISHED when it has no changes", () => {
    const planning = run("TRACKED", "PLANNING");
    expect(nextState(planning, planned({ hasChanges: true }))).toBe(
      "UNCONFIRMED",
    );
    expect(nextState(planning, planned({ hasChanges: false }))).toBe(
      "FINISHED",
    );
  });

  it("a waiting or running replan can always be ended: discarded while waiting, stopped or failed once held", () => {
    expect(
      nextState(run("TRACKED", "REPLAN_REQUESTED"), { type: "discard" }),
    ).toBe("DISCARDED");
    expect(
      nextState(run("TRACKED", "PREPARING_REPLAN"), { type: "stop" }),
    ).toBe("STOPPED");
    expect(
      nextState(run("TRACKED", "PREPARING_REPLAN"), { type: "workerLost" }),
    ).toBe("FAILED");
  });
});
