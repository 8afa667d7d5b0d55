import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  planDocumentUploadSchema,
  runEventSchema,
  runLogChunkSchema,
  WORKER_API_PREFIX,
  type RunEvent,
  type PlanDocument,
  type RunLogChunk,
} from "@stackyard/protocol";

type Route = "logs" | "events" | "workspace" | "plan";

export interface RecordedRequest {
  method: string;
  runId: string;
  route: Route;
  /** Parsed JSON for logs/events/plan, the text for a workspace PUT, null for GET. */
  body: unknown;
  /** The answer: injected failures included. */
  status: number;
}

/**
 * A fake of our own server's worker API for launcher tests, implementing the routes of
 * packages/protocol run-messages.ts: bearer token per run, bodies validated with the
 * protocol's schemas, logs deduplicated by (run, state, assignment, seq), events kept
 * in arrival order, the workspace stored as the sealed text, plan documents by run. `fail()` injects errors.
 */
export class FakeWorkerApi {
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  readonly tokens = new Map<string, string>();
  readonly workspaces = new Map<string, string>();
  readonly plans = new Map<string, PlanDocument>();
  readonly #logs = new Map<string, RunLogChunk & { runId: string }>();
  readonly #events: Array<RunEvent & { runId: string }> = [];
  #failures: Array<{
    method: string;
    route: Route;
    status: number;
    remaining: number;
    /** Handle the request, then answer with the failure (a lost response). */
    afterProcessing: boolean;
  }> = [];
  readonly #server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { status, body } = this.#handle(
        req,
        Buffer.concat(chunks).toString("utf8"),
      );
      res.statusCode = status;
      res.setHeader(
        "content-type",
        typeof body === "string" ? "text/plain" : "application/json",
      );
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.#server.listen(0, "127.0.0.1", resolve),
    );
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  fail(
    method: string,
    route: Route,
    count: number,
    opts: { status?: number; afterProcessing?: boolean } = {},
  ): void {
    this.#failures.push({
      method,
      route,
      status: opts.status ?? 503,
      remaining: count,
      afterProcessing: opts.afterProcessing ?? false,
    });
  }

  /** Accepted log chunks of a run, deduplicated, in (state, seq) arrival order. */
  logs(runId: string, assignment?: number): RunLogChunk[] {
    return [...this.#logs.values()].filter(
      (c) =>
        c.runId === runId &&
        (assignment === undefined || c.assignment === assignment),
    );
  }

  /** The run's log text: every accepted chunk, in arrival order. */
  logText(runId: string): string {
    return this.logs(runId)
      .map((c) => c.text)
      .join("");
  }

  /** Every event received, duplicates included. */
  events(runId: string, assignment?: number): RunEvent[] {
    return this.#events.filter(
      (e) =>
        e.runId === runId &&
        (assignment === undefined || e.assignment === assignment),
    );
  }

  result(
    runId: string,
    assignment: number,
  ): Extract<RunEvent, { type: "result" }> | undefined {
    return this.events(runId, assignment).find(
      (e): e is Extract<RunEvent, { type: "result" }> => e.type === "result",
    );
  }

  #handle(
    req: http.IncomingMessage,
    text: string,
  ): { status: number; body: unknown } {
    const match = new RegExp(
      `^${WORKER_API_PREFIX}/([^/]+)/(logs|events|workspace|plan)$`,
    ).exec(req.url ?? "");
    if (!match) return { status: 404, body: { message: "no such route" } };
    const runId = decodeURIComponent(match[1] ?? "");
    const route = match[2] as Route;
    const method = req.method ?? "GET";
    let body: unknown = null;
    if (route !== "workspace") {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } else if (method === "PUT") body = text;
    const record = (status: number) =>
      this.requests.push({ method, runId, route, body, status });

    if (req.headers.authorization !== `Bearer ${this.tokens.get(runId)}`) {
      record(401);
      return { status: 401, body: { message: "invalid run token" } };
    }
    const failure = this.#failures.find(
      (f) => f.method === method && f.route === route && f.remaining > 0,
    );
    if (failure && !failure.afterProcessing) {
      failure.remaining--;
      record(failure.status);
      return { status: failure.status, body: { message: "try again later" } };
    }
    const answer = this.#process(method, runId, route, body);
    if (failure && answer.status < 300) {
      failure.remaining--;
      record(failure.status);
      return { status: failure.status, body: { message: "lost answer" } };
    }
    record(answer.status);
    return answer;
  }

  #process(
    method: string,
    runId: string,
    route: Route,
    body: unknown,
  ): { status: number; body: unknown } {
    const invalid = (message: string) => ({ status: 400, body: { message } });
    if (route === "logs" && method === "POST") {
      const chunk = runLogChunkSchema.safeParse(body);
      if (!chunk.success) return invalid(chunk.error.message);
      const key = `${runId}/${chunk.data.state}/${chunk.data.assignment}/${chunk.data.seq}`;
      if (!this.#logs.has(key)) this.#logs.set(key, { ...chunk.data, runId });
      return { status: 204, body: "" };
    }
    if (route === "events" && method === "POST") {
      const event = runEventSchema.safeParse(body);
      if (!event.success) return invalid(event.error.message);
      this.#events.push({ ...event.data, runId });
      return { status: 204, body: "" };
    }
    if (route === "plan" && method === "PUT") {
      const upload = planDocumentUploadSchema.safeParse(body);
      if (!upload.success) return invalid(upload.error.message);
      this.plans.set(runId, upload.data.document);
      return { status: 204, body: "" };
    }
    if (route === "workspace" && method === "PUT") {
      if (typeof body !== "string" || !body.startsWith("sb1."))
        return invalid("expected a sealed box");
      this.workspaces.set(runId, body);
      return { status: 204, body: "" };
    }
    if (route === "workspace" && method === "GET") {
      const box = this.workspaces.get(runId);
      return box === undefined
        ? { status: 404, body: { message: "no workspace stored" } }
        : { status: 200, body: box };
    }
    return { status: 405, body: { message: "method not allowed" } };
  }
}
