import {
  AppError,
  NotFoundError,
  ValidationError,
} from "../../platform/errors.ts";

export class PolicyNotFoundError extends NotFoundError {
  constructor(id: string) {
    super(`policy ${id} not found`);
  }
}

/** Where OPA located a problem in the user's body (1-based). */
export interface RegoProblem {
  message: string;
  row: number | null;
  col: number | null;
}

/** The body does not compile, or calls a disabled built-in; every problem is listed. */
export class PolicyBodyInvalidError extends ValidationError {
  constructor(readonly problems: RegoProblem[]) {
    super(
      `the policy body is invalid: ${problems
        .map(
          (p) =>
            `${p.row !== null ? `line ${p.row}${p.col !== null ? `, column ${p.col}` : ""}: ` : ""}${p.message}`,
        )
        .join("; ")}`,
    );
  }
}

/** One policy failed to evaluate (runtime error, timeout, engine unavailable). */
export class PolicyEvaluationError extends AppError {
  override readonly code = "POLICY_EVALUATION_FAILED";
  override readonly httpStatus = 422;
  /** The evaluation was cut off by its timeout. */
  timedOut = false;
}
