import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { UnavailableError } from "../../platform/errors.ts";
import {
  DISABLED_BUILTINS,
  declaredPackage,
  rewriteSource,
  withHelpers,
  type EngineType,
} from "./policy.ts";
import { PolicyBodyInvalidError, type RegoProblem } from "./policy-errors.ts";

const MAX_BODY_BYTES = 1024 * 1024;
const CHECK_TIMEOUT_MS = 30_000;

function run(
  binary: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: CHECK_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          reject(
            new UnavailableError(
              `cannot run the policy checker (${binary}): ${err.message}`,
              { cause: err },
            ),
          );
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

interface CheckOutput {
  errors?: Array<{
    message?: string;
    code?: string;
    location?: { row?: number; col?: number };
  }>;
}

/** `undefined function http.send` → the disabled built-in it names, if any. */
function disabledBuiltinOf(message: string): string | null {
  const m = /undefined function ([A-Za-z0-9_.]+)/.exec(message);
  const name = m?.[1];
  return name && (DISABLED_BUILTINS as readonly string[]).includes(name)
    ? name
    : null;
}

/**
 * Checks policy bodies with `opa check` before they are saved, so a stored policy always
 * compiles: syntax and type errors with their line and column, and calls of a disabled
 * built-in (checked against an OPA capabilities document without them, so OPA itself
 * reports the call and where it is).
 *
 * Dialect: a body is checked as Rego v1; one that fails only because it is written in
 * v0 syntax is accepted in OPA's v0-compatible mode (REGO_V0). An explicit engine type
 * checks that dialect only.
 */
export function createPolicyValidator(opts: { opaBinary: string }) {
  let workdir: Promise<string> | null = null;

  async function capabilitiesDir(): Promise<string> {
    workdir ??= (async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-opa-"));
      const current = await run(opts.opaBinary, ["capabilities", "--current"]);
      if (current.code !== 0)
        throw new UnavailableError(
          `opa capabilities failed: ${current.stderr.trim()}`,
        );
      const caps = JSON.parse(current.stdout) as {
        builtins: Array<{ name: string }>;
      };
      caps.builtins = caps.builtins.filter(
        (b) => !(DISABLED_BUILTINS as readonly string[]).includes(b.name),
      );
      await writeFile(
        path.join(dir, "capabilities.json"),
        JSON.stringify(caps),
      );
      return dir;
    })();
    workdir.catch(() => {
      workdir = null;
    });
    return workdir;
  }

  async function check(
    body: string,
    engine: EngineType,
  ): Promise<RegoProblem[]> {
    const dir = await capabilitiesDir();
    const sub = await mkdtemp(path.join(dir, "check-"));
    const file = path.join(sub, "policy.rego");
    try {
      await writeFile(file, withHelpers(body, engine));
      const out = await run(opts.opaBinary, [
        "check",
        "--format",
        "json",
        "--capabilities",
        path.join(dir, "capabilities.json"),
        ...(engine === "REGO_V0" ? ["--v0-compatible"] : []),
        file,
      ]);
      if (out.code === 0) return [];
      const text = out.stdout.trim() || out.stderr.trim();
      let parsed: CheckOutput;
      try {
        parsed = JSON.parse(text) as CheckOutput;
      } catch {
        return [{ message: text.slice(0, 1000), row: null, col: null }];
      }
      return (parsed.errors ?? []).map((e) => {
        const message = e.message ?? e.code ?? "invalid";
        const builtin = disabledBuiltinOf(message);
        return {
          message: builtin
            ? `the built-in ${builtin} is disabled in policies${builtin === "time.now_ns" ? " (use input.spacelift.request.timestamp_ns for the time)" : ""}`
            : message,
          row: e.location?.row ?? null,
          col: e.location?.col ?? null,
        };
      });
    } finally {
      await rm(sub, { recursive: true, force: true });
    }
  }

  /**
   * Every policy shares one OPA, each in its own package (`spacelift.p_<id>`), so a
   * reference to `data` other than the policy's own package (`data["spacelift"]`,
   * `data[x]`, `data` itself, `import data`) would read every other policy, LOGIN ones
   * included. The body is rewritten as it will be uploaded (own-package references by
   * full path become `data.spacelift.p_<id>`), parsed by OPA, and each `data` reference
   * must start with that package as constant strings.
   */
  async function foreignDataRefs(
    body: string,
    engine: EngineType,
  ): Promise<RegoProblem[]> {
    const dir = await capabilitiesDir();
    const sub = await mkdtemp(path.join(dir, "parse-"));
    const file = path.join(sub, "policy.rego");
    const own = ["spacelift", "p__self"];
    try {
      await writeFile(file, rewriteSource(body, own.join("."), engine));
      const out = await run(opts.opaBinary, [
        "parse",
        "--format",
        "json",
        "--json-include",
        "locations,-comments",
        ...(engine === "REGO_V0" ? ["--v0-compatible"] : []),
        file,
      ]);
      if (out.code !== 0)
        throw new UnavailableError(
          `opa parse failed on a body opa check accepted: ${out.stderr.trim().slice(0, 500)}`,
        );
      const ast = JSON.parse(out.stdout) as Record<string, unknown>;
      const problems: RegoProblem[] = [];
      const visit = (node: unknown): void => {
        if (Array.isArray(node)) {
          for (const n of node) visit(n);
          return;
        }
        if (!node || typeof node !== "object") return;
        const term = node as {
          type?: unknown;
          value?: unknown;
          location?: { row?: number; col?: number };
        };
        if (term.type === "ref" && Array.isArray(term.value)) {
          const [head, ...rest] = term.value as Array<typeof term>;
          if (head?.type === "var" && head.value === "data") {
            const ownPackage = own.every(
              (name, i) =>
                rest[i]?.type === "string" && rest[i]?.value === name,
            );
            if (!ownPackage)
              problems.push({
                message:
                  'a policy may read data only through its own package (data.spacelift.<rule>); data itself, data["spacelift"] or data[x] would reach other policies',
                row: head.location?.row ?? null,
                col: head.location?.col ?? null,
              });
          }
        }
        for (const [key, value] of Object.entries(node))
          if (key !== "location" && key !== "package") visit(value);
      };
      visit(ast);
      return problems;
    } finally {
      await rm(sub, { recursive: true, force: true });
    }
  }

  async function accepted(body: string, engine: EngineType) {
    const problems = await foreignDataRefs(body, engine);
    if (problems.length) throw new PolicyBodyInvalidError(problems);
    return engine;
  }

  return {
    /**
     * The dialect the body compiles in; throws PolicyBodyInvalidError listing every
     * problem (line, column, message) otherwise.
     */
    async validate(
      body: string,
      engine?: EngineType | null,
    ): Promise<EngineType> {
      if (Buffer.byteLength(body) > MAX_BODY_BYTES)
        throw new PolicyBodyInvalidError([
          {
            message: `the body is larger than ${MAX_BODY_BYTES} bytes`,
            row: null,
            col: null,
          },
        ]);
      const pkg = declaredPackage(body);
      if (pkg !== "spacelift")
        throw new PolicyBodyInvalidError([
          {
            message: pkg
              ? `the package must be "spacelift", not "${pkg}"`
              : 'the body needs a "package spacelift" line',
            row: null,
            col: null,
          },
        ]);
      if (engine) {
        const problems = await check(body, engine);
        if (problems.length) throw new PolicyBodyInvalidError(problems);
        return accepted(body, engine);
      }
      const v1 = await check(body, "REGO_V1");
      if (v1.length === 0) return accepted(body, "REGO_V1");
      const v0 = await check(body, "REGO_V0");
      if (v0.length === 0) return accepted(body, "REGO_V0");
      const writtenForV0 = v1.some((p) =>
        /keyword is required|rego\.v1/.test(p.message),
      );
      throw new PolicyBodyInvalidError(writtenForV0 ? v0 : v1);
    },

    async close(): Promise<void> {
      const dir = await workdir?.catch(() => null);
      workdir = null;
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export type PolicyValidator = ReturnType<typeof createPolicyValidator>;
