/**
 * Pure helpers of the policy pages: the problems the server found in a Rego body (its
 * message names each one's line and column), labels typed as one line, and the policy
 * decisions the runs module writes into a run's transition notes.
 */

export interface RegoProblem {
  line: number | null;
  column: number | null;
  message: string;
}

const LOCATED = /line (\d+)(?:, column (\d+))?: /g;

/**
 * Splits a save error such as "The policy body is invalid: line 3, column 5: unexpected
 * ident; line 9: undefined function http.send." into its located problems. A message
 * that names no line comes back as one problem without a location.
 */
export function parseRegoProblems(message: string): RegoProblem[] {
  const matches = [...message.matchAll(LOCATED)];
  if (matches.length === 0)
    return [{ line: null, column: null, message: message.trim() }];
  return matches.map((m, i) => {
    const start = (m.index ?? 0) + m[0].length;
    const next = matches[i + 1];
    const end = next?.index ?? message.length;
    const text = message.slice(start, end).trim().replace(/[;.]$/, "");
    return {
      line: Number(m[1]),
      column: m[2] === undefined ? null : Number(m[2]),
      message: text,
    };
  });
}

/** Labels typed as one comma-separated line: trimmed, blanks dropped, duplicates removed. */
export function parsePolicyLabels(text: string): string[] {
  const seen = new Set<string>();
  for (const raw of text.split(",")) {
    const l = raw.trim();
    if (l) seen.add(l);
  }
  return [...seen];
}

/** A sentence about the first label that cannot be saved, or null when all are fine. */
export function policyLabelsError(labels: string[]): string | null {
  for (const l of labels) {
    if (/\s/.test(l))
      return `The label “${l}” contains a space; separate labels with commas.`;
    if (l === "autoattach:")
      return "Write a stack label (or *) after autoattach:, e.g. autoattach:prod.";
  }
  return null;
}

export interface PolicyDecision {
  kind: "deny" | "warn" | "error" | "approval";
  messages: string[];
  state: string;
}

/**
 * The policy decisions in a run's transition notes (oldest first), as the runs module
 * words them: "plan policy warnings: a; b", "denied by plan policy: a; b",
 * "plan policy evaluation failed: e" and an approval policy's rejection or error.
 */
export function policyDecisions(
  transitions: readonly { state: string; note: string | null }[],
): PolicyDecision[] {
  const out: PolicyDecision[] = [];
  for (const t of transitions) {
    const note = t.note ?? "";
    const patterns: [PolicyDecision["kind"], RegExp][] = [
      ["warn", /plan policy warnings: (.+)$/],
      ["deny", /denied by plan policy: (.+)$/],
      ["error", /policy evaluation failed: (.+)$/],
    ];
    let matched = false;
    for (const [kind, re] of patterns) {
      const m = re.exec(note);
      if (m?.[1]) {
        out.push({ kind, messages: splitMessages(m[1]), state: t.state });
        matched = true;
        break;
      }
    }
    if (!matched && /approval/i.test(note) && /polic/i.test(note))
      out.push({
        kind: "approval",
        messages: [note.replace(/^Failed: /, "")],
        state: t.state,
      });
  }
  return out;
}

function splitMessages(text: string): string[] {
  return text
    .split("; ")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Pretty-prints JSON text, or returns it unchanged when it is not JSON. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
