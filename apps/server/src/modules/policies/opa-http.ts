import http from "node:http";

/**
 * One HTTP exchange with an OPA server at `base`: `http(s)://host:port` (an external OPA)
 * or `unix://<socket path>` (the embedded one, which listens on no TCP port so that no
 * other local process, such as a run, can reach it).
 *
 * Aborting `signal` rejects with `signal.reason` (a `TimeoutError` for
 * `AbortSignal.timeout`), as `fetch` does; the request is torn down and OPA cancels the
 * evaluation with it.
 */
export async function opaRequest(
  base: string,
  urlPath: string,
  init: { method: string; body?: string; signal: AbortSignal },
): Promise<{ status: number; text: string }> {
  if (!base.startsWith("unix://")) {
    const res = await fetch(`${base}${urlPath}`, {
      method: init.method,
      body: init.body,
      headers: { "content-type": "application/json" },
      signal: init.signal,
    });
    return { status: res.status, text: await res.text() };
  }
  const socketPath = base.slice("unix://".length);
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) =>
      reject(init.signal.aborted ? (init.signal.reason as Error) : err);
    const req = http.request(
      {
        socketPath,
        path: urlPath,
        method: init.method,
        headers: { "content-type": "application/json", host: "opa" },
        signal: init.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", fail);
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("error", fail);
    req.end(init.body);
  });
}
