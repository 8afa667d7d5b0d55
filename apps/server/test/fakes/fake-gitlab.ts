import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake GitLab REST API (v4) for tests: a node:http server speaking GitLab's real wire
 * format for the endpoints the GitLab integration uses, so the adapter talks to it
 * unchanged through `apiUrl`. Requests authenticate with `PRIVATE-TOKEN` (`token`, a
 * `glpat-…` of the user `stackyard-bot`); a missing or wrong one gets GitLab's 401.
 * Projects are addressed by numeric id or URL-encoded full path, as in GitLab.
 *
 * Commit statuses follow GitLab's state machine on (project, sha, name): moving a status
 * to the state it is already in answers 400 "Cannot transition status via :<event> from
 * :<state>", as GitLab does.
 *
 * Endpoints:
 * - GET  /api/v4/user
 * - POST /api/v4/projects/{id}/statuses/{sha}
 * - GET  /api/v4/projects/{id}/merge_requests/{iid}/notes   (per_page, page, Link, X-Next-Page)
 * - POST /api/v4/projects/{id}/merge_requests/{iid}/notes
 * - PUT  /api/v4/projects/{id}/merge_requests/{iid}/notes/{note_id}
 */
export interface FakeGitlab {
  /** The `apiUrl` to give the integration (the instance URL; the adapter adds /api/v4). */
  url: string;
  /** The valid PRIVATE-TOKEN. */
  token: string;
  /** Creates a project ("group/name"); returns its numeric id. */
  addProject(path: string): number;
  /** Statuses posted to a project, oldest first (each transition is one entry). */
  statuses(path: string, sha?: string): FakeGitlabStatus[];
  /** Notes of a merge request, oldest first. */
  notes(path: string, iid: number): FakeGitlabNote[];
  /** A note by another user, e.g. one quoting the marker. */
  addUserNote(
    path: string,
    iid: number,
    body: string,
    system?: boolean,
  ): number;
  /** The next `count` requests to `route` answer `status` (default 502) instead. */
  failNext(route: FakeGitlabRoute, count: number, status?: number): void;
  requests: Array<{ method: string; path: string }>;
  close(): Promise<void>;
}

export type FakeGitlabRoute = "statuses" | "notes";

export interface FakeGitlabStatus {
  id: number;
  sha: string;
  name: string;
  status: string;
  description: string | null;
  target_url: string | null;
  ref: string | null;
}

export interface FakeGitlabNote {
  id: number;
  body: string;
  system: boolean;
  author: { id: number; username: string; name: string };
  created_at: string;
  updated_at: string;
}

class GitlabError extends Error {
  constructor(
    readonly status: number,
    readonly payload: Record<string, unknown>,
  ) {
    super(JSON.stringify(payload));
  }
}

const STATES = ["pending", "running", "success", "failed", "canceled"];
/** GitLab's state machine event that reaches each state. */
const EVENT_TO: Record<string, string> = {
  pending: "enqueue",
  running: "run",
  success: "success",
  failed: "drop",
  canceled: "cancel",
};

export async function startFakeGitlab(): Promise<FakeGitlab> {
  const token = `glpat-${randomBytes(15).toString("base64url")}`;
  const bot = { id: 77, username: "stackyard-bot", name: "Stackyard" };
  const human = { id: 12, username: "jsmith", name: "John Smith" };
  let nextId = 1;
  const projects = new Map<string, number>(); // lowercased path → id
  const statuses = new Map<number, FakeGitlabStatus[]>();
  const notes = new Map<string, FakeGitlabNote[]>(); // `${projectId}!${iid}`
  const failures = new Map<
    FakeGitlabRoute,
    { count: number; status: number }
  >();
  const requests: FakeGitlab["requests"] = [];

  const findProject = (ref: string) => {
    if (/^\d+$/.test(ref)) {
      const id = Number(ref);
      for (const [p, pid] of projects) if (pid === id) return { id, path: p };
    } else {
      const id = projects.get(ref.toLowerCase());
      if (id !== undefined) return { id, path: ref.toLowerCase() };
    }
    throw new GitlabError(404, { message: "404 Project Not Found" });
  };
  const maybeFail = (route: FakeGitlabRoute) => {
    const f = failures.get(route);
    if (!f || f.count <= 0) return;
    f.count--;
    throw new GitlabError(f.status, {
      message: `${f.status} ${http.STATUS_CODES[f.status] ?? "Error"}`,
    });
  };
  const noteJson = (iid: number, n: FakeGitlabNote) => ({
    ...n,
    type: null,
    attachment: null,
    noteable_id: 1000 + iid,
    noteable_type: "MergeRequest",
    noteable_iid: iid,
    resolvable: false,
    confidential: false,
    internal: false,
  });

  function handle(
    req: http.IncomingMessage,
    url: URL,
    body: Record<string, unknown>,
  ): { status: number; body: unknown; headers?: Record<string, string> } {
    const method = req.method ?? "GET";
    requests.push({ method, path: url.pathname });
    if (req.headers["private-token"] !== token)
      throw new GitlabError(401, { message: "401 Unauthorized" });
    if (method === "GET" && url.pathname === "/api/v4/user")
      return {
        status: 200,
        body: {
          ...bot,
          state: "active",
          locked: false,
          avatar_url: null,
          web_url: `https://gitlab.example.com/${bot.username}`,
          bot: true,
        },
      };
    // Split before decoding: a project path arrives as one %2F-encoded segment.
    const parts = url.pathname.split("/").slice(1).map(decodeURIComponent);
    const [api, v4, projectsSeg, projectRef, kind, x, y, z] = parts;
    if (
      api !== "api" ||
      v4 !== "v4" ||
      projectsSeg !== "projects" ||
      !projectRef
    )
      throw new GitlabError(404, { error: "404 Not Found" });
    const project = findProject(projectRef);

    if (method === "POST" && kind === "statuses" && x && parts.length === 6) {
      maybeFail("statuses");
      const state = body["state"];
      if (typeof state !== "string" || !STATES.includes(state))
        throw new GitlabError(400, {
          error: "state does not have a valid value",
        });
      const name = typeof body["name"] === "string" ? body["name"] : "default";
      const list = statuses.get(project.id) ?? [];
      const current = [...list]
        .reverse()
        .find((s) => s.sha === x && s.name === name);
      if (current?.status === state)
        throw new GitlabError(400, {
          message: `Cannot transition status via :${EVENT_TO[state]} from :${state} (Reason(s): Status cannot transition via "${EVENT_TO[state]}")`,
        });
      const created: FakeGitlabStatus = {
        id: nextId++,
        sha: x,
        name,
        status: state,
        description:
          typeof body["description"] === "string" ? body["description"] : null,
        target_url:
          typeof body["target_url"] === "string" ? body["target_url"] : null,
        ref: typeof body["ref"] === "string" ? body["ref"] : null,
      };
      list.push(created);
      statuses.set(project.id, list);
      const now = new Date().toISOString();
      return {
        status: 201,
        body: {
          ...created,
          created_at: now,
          started_at: state === "running" ? now : null,
          finished_at: ["success", "failed", "canceled"].includes(state)
            ? now
            : null,
          allow_failure: false,
          coverage: null,
          pipeline_id: 1,
          author: {
            ...bot,
            state: "active",
            web_url: `https://gitlab.example.com/${bot.username}`,
          },
        },
      };
    }

    if (kind === "merge_requests" && x && /^\d+$/.test(x) && y === "notes") {
      maybeFail("notes");
      const iid = Number(x);
      const k = `${project.id}!${iid}`;
      const list = notes.get(k) ?? [];
      if (method === "GET" && parts.length === 7) {
        const perPage = Math.min(
          Number(url.searchParams.get("per_page") ?? 20) || 20,
          100,
        );
        const page = Math.max(
          Number(url.searchParams.get("page") ?? 1) || 1,
          1,
        );
        const total = Math.max(Math.ceil(list.length / perPage), 1);
        const sorted =
          url.searchParams.get("sort") === "asc" ? list : [...list].reverse();
        const headers: Record<string, string> = {
          "x-page": String(page),
          "x-per-page": String(perPage),
          "x-total": String(list.length),
          "x-total-pages": String(total),
          "x-next-page": page < total ? String(page + 1) : "",
        };
        if (page < total) {
          const next = new URL(url.href);
          next.searchParams.set("page", String(page + 1));
          headers["link"] = `<${next.href}>; rel="next"`;
        }
        return {
          status: 200,
          body: sorted
            .slice((page - 1) * perPage, page * perPage)
            .map((n) => noteJson(iid, n)),
          headers,
        };
      }
      if (method === "POST" && parts.length === 7) {
        if (typeof body["body"] !== "string" || !body["body"])
          throw new GitlabError(400, { error: "body is missing" });
        const now = new Date().toISOString();
        const note: FakeGitlabNote = {
          id: nextId++,
          body: body["body"],
          system: false,
          author: bot,
          created_at: now,
          updated_at: now,
        };
        list.push(note);
        notes.set(k, list);
        return { status: 201, body: noteJson(iid, note) };
      }
      if (method === "PUT" && z && parts.length === 8) {
        const note = list.find((n) => n.id === Number(z));
        if (!note)
          throw new GitlabError(404, { message: "404 Note Not Found" });
        if (note.author.id !== bot.id)
          throw new GitlabError(403, { message: "403 Forbidden" });
        if (typeof body["body"] !== "string" || !body["body"])
          throw new GitlabError(400, { error: "body is missing" });
        note.body = body["body"];
        note.updated_at = new Date().toISOString();
        return { status: 200, body: noteJson(iid, note) };
      }
    }
    throw new GitlabError(404, { error: "404 Not Found" });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const send = (
        status: number,
        payload: unknown,
        headers: Record<string, string> = {},
      ) => {
        res.writeHead(status, {
          "content-type": "application/json",
          ...headers,
        });
        res.end(JSON.stringify(payload));
      };
      const text = Buffer.concat(chunks).toString("utf8");
      let body: Record<string, unknown> = {};
      try {
        if (text) {
          // GitLab takes JSON or form-encoded parameters.
          body = String(req.headers["content-type"]).includes("json")
            ? (JSON.parse(text) as Record<string, unknown>)
            : Object.fromEntries(new URLSearchParams(text));
        }
      } catch {
        send(400, { error: "body is not valid JSON" });
        return;
      }
      try {
        const answer = handle(req, new URL(req.url ?? "/", base), body);
        send(answer.status, answer.body, answer.headers);
      } catch (err) {
        if (err instanceof GitlabError) send(err.status, err.payload);
        else send(500, { message: "500 Internal Server Error" });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    url: base,
    token,
    addProject(path) {
      const id = 1000 + nextId++;
      projects.set(path.toLowerCase(), id);
      return id;
    },
    statuses(path, sha) {
      const id = projects.get(path.toLowerCase());
      const list = id === undefined ? [] : (statuses.get(id) ?? []);
      return sha ? list.filter((s) => s.sha === sha) : [...list];
    },
    notes(path, iid) {
      const id = projects.get(path.toLowerCase());
      return [...(notes.get(`${id}!${iid}`) ?? [])];
    },
    addUserNote(path, iid, body, system = false) {
      const id = projects.get(path.toLowerCase());
      const k = `${id}!${iid}`;
      const now = new Date().toISOString();
      const note: FakeGitlabNote = {
        id: nextId++,
        body,
        system,
        author: human,
        created_at: now,
        updated_at: now,
      };
      notes.set(k, [...(notes.get(k) ?? []), note]);
      return note.id;
    },
    failNext(route, count, status = 502) {
      failures.set(route, { count, status });
    },
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
