import { createHash } from "node:crypto";
import {
  RUN_LOGS,
  type ApiClient,
  type RunLogsResult,
} from "@stackyard/api-client";
import type pg from "pg";
import { runHistory } from "../run-kit.ts";

// The invariants a drill checks once its run has ended. Each returns the problems it
// found (empty when the invariant holds), so a drill reports all of them at once.

/** Lines the drill stack's hooks print: `<hook>-<n>` for n = 1..HOOK_LINES. */
export const HOOK_LINES = 12;
export const HOOKS = ["init", "plan", "apply"] as const;

/**
 * A hook printing numbered lines, slowly enough (~1 s) to give a fault a window inside
 * INITIALIZING, PLANNING and APPLYING.
 */
export function numberedHook(name: (typeof HOOKS)[number]): string {
  return `for i in $(seq 1 ${HOOK_LINES}); do echo ${name}-$i; sleep 0.08; done`;
}

/** Each state's log text (oldest state first), read page by page over GraphQL. */
export async function logsByState(
  client: ApiClient,
  stack: string,
  run: string,
): Promise<{ state: string; stateVersion: number; text: string }[]> {
  const out: { state: string; stateVersion: number; text: string }[] = [];
  for (const t of await runHistory(client, stack, run)) {
    if (!t.hasLogs) continue;
    let text = "";
    let token: string | null = null;
    for (let page = 0; page < 200; page++) {
      const data: RunLogsResult = await client.request<RunLogsResult>(
        RUN_LOGS,
        { stack, run, state: t.state, stateVersion: t.stateVersion, token },
      );
      const logs = data.stack?.run?.logs;
      if (!logs) break;
      for (const m of logs.messages) text += m.message;
      token = logs.nextToken;
      if (logs.finished || !logs.hasMore || token === null) break;
    }
    out.push({ state: t.state, stateVersion: t.stateVersion, text });
  }
  return out;
}

/**
 * Logs lose and repeat nothing: per state, the stored chunks are numbered 0..n-1 with no
 * gap; each hook's numbered lines appear in order without a gap or a repeat (a run cut
 * short may stop early, only in its last state with logs); a FINISHED run has every
 * line of every hook and OpenTofu's own plan and apply summaries.
 */
export async function checkLogs(
  db: pg.Pool,
  client: ApiClient,
  stack: string,
  run: string,
  finalState: string,
): Promise<string[]> {
  const problems: string[] = [];
  const seqs = await db.query<{
    state: string;
    state_version: number;
    n: string;
    max: number;
  }>(
    `select state, state_version, count(*) as n, max(seq) as max
       from run_log_chunks where run_id = $1 group by state, state_version`,
    [run],
  );
  for (const r of seqs.rows)
    if (Number(r.n) !== r.max + 1)
      problems.push(
        `log chunks of ${r.state}#${r.state_version} have gaps: ${r.n} chunks, last seq ${r.max}`,
      );

  const states = await logsByState(client, stack, run);
  const seen = new Map<string, number>();
  for (const [i, s] of states.entries()) {
    const isLast = i === states.length - 1;
    for (const hook of HOOKS) {
      const numbers = s.text
        .split("\n")
        .map((l) => new RegExp(`^${hook}-(\\d+)$`).exec(l.trim()))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]));
      if (numbers.length === 0) continue;
      seen.set(hook, (seen.get(hook) ?? 0) + 1);
      const expected = numbers.map((_, k) => k + 1);
      if (numbers.join(",") !== expected.join(","))
        problems.push(
          `${s.state} logs of hook ${hook} are not 1..${numbers.length} in order: ${numbers.join(",")}`,
        );
      else if (
        numbers.length < HOOK_LINES &&
        (finalState === "FINISHED" || !isLast)
      )
        problems.push(
          `${s.state} logs of hook ${hook} stop at ${numbers.length} of ${HOOK_LINES} though the state completed`,
        );
    }
  }
  if (finalState === "FINISHED") {
    const all = states.map((s) => s.text).join("");
    if (!/Plan: \d+ to add|No changes/.test(all))
      problems.push("the FINISHED run's logs lack OpenTofu's plan summary");
    if (/Plan: [1-9]\d* to add/.test(all) && !/Apply complete!/.test(all))
      problems.push("the FINISHED run planned changes but logs no apply");
    for (const hook of HOOKS)
      if (hook !== "apply" && !seen.has(hook))
        problems.push(`the FINISHED run's logs lack the ${hook} hook`);
  }
  return problems;
}

const STATE_VERSIONS = `query($stack: ID!) { stack(id: $stack) {
  stackyardStateVersions(first: 100) { nodes { id serial lineage isCurrent runId } } } }`;
const VERSION_URL = `mutation($stack: ID!, $version: ID!) {
  stackyardStateVersionDownloadUrl(stack: $stack, version: $version) { url } }`;

interface StateVersionNode {
  id: string;
  serial: number;
  lineage: string;
  isCurrent: boolean;
  runId: string | null;
}

/**
 * State versions are whole and ordered: serials strictly increase in creation order,
 * one lineage, exactly one current version (the newest), and every version downloads
 * as JSON whose serial and lineage match its row and whose bytes match the stored
 * checksum. When `expectResource` is set the current state must hold it.
 */
export async function checkStateVersions(
  db: pg.Pool,
  client: ApiClient,
  stack: string,
  expectResource: string | null,
): Promise<string[]> {
  const problems: string[] = [];
  const data = await client.request<{
    stack: { stackyardStateVersions: { nodes: StateVersionNode[] } } | null;
  }>(STATE_VERSIONS, { stack });
  const versions = [
    ...(data.stack?.stackyardStateVersions.nodes ?? []),
  ].reverse();
  const checksums = new Map(
    (
      await db.query<{ id: string; checksum: string }>(
        "select id, checksum from state_versions where stack_id = $1",
        [stack],
      )
    ).rows.map((r) => [r.id, r.checksum]),
  );
  for (let i = 1; i < versions.length; i++) {
    const [prev, cur] = [versions[i - 1], versions[i]];
    if (prev && cur && cur.serial <= prev.serial)
      problems.push(
        `state serial went from ${prev.serial} to ${cur.serial} (${cur.id})`,
      );
  }
  if (new Set(versions.map((v) => v.lineage)).size > 1)
    problems.push(
      `state versions have several lineages: ${versions.map((v) => v.lineage).join(",")}`,
    );
  const current = versions.filter((v) => v.isCurrent);
  if (
    versions.length > 0 &&
    (current.length !== 1 || !versions.at(-1)?.isCurrent)
  )
    problems.push(
      `the newest state version must be the only current one; current: ${current.map((v) => v.id).join(",") || "none"}`,
    );
  let currentDoc: { resources?: { type: string; name: string }[] } | null =
    null;
  for (const v of versions) {
    const { stackyardStateVersionDownloadUrl: link } = await client.request<{
      stackyardStateVersionDownloadUrl: { url: string };
    }>(VERSION_URL, { stack, version: v.id });
    const res = await fetch(link.url);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) {
      problems.push(`state version ${v.id} download: HTTP ${res.status}`);
      continue;
    }
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (checksums.get(v.id) !== sha)
      problems.push(`state version ${v.id} does not match its checksum`);
    let doc: {
      serial?: number;
      lineage?: string;
      resources?: { type: string; name: string }[];
    };
    try {
      doc = JSON.parse(bytes.toString("utf8")) as typeof doc;
    } catch {
      problems.push(`state version ${v.id} is not JSON`);
      continue;
    }
    if (doc.serial !== v.serial || doc.lineage !== v.lineage)
      problems.push(
        `state version ${v.id} holds serial ${doc.serial}/${doc.lineage}, its row says ${v.serial}/${v.lineage}`,
      );
    if (v.isCurrent) currentDoc = doc;
  }
  if (expectResource) {
    const has = (currentDoc?.resources ?? []).some(
      (r) => `${r.type}.${r.name}` === expectResource,
    );
    if (!has)
      problems.push(`the current state does not hold ${expectResource}`);
  }
  return problems;
}

/** Runs anywhere in the install that have not ended (after a drill: must be none). */
export async function unfinishedRuns(db: pg.Pool): Promise<string[]> {
  const res = await db.query<{ id: string; state: string }>(
    `select id, state from runs
      where state not in ('CANCELED','DISCARDED','FAILED','FINISHED','SKIPPED','STOPPED')`,
  );
  return res.rows.map((r) => `${r.id} ${r.state}`);
}
