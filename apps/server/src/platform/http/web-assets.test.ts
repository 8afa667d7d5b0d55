import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { registerWebAssets } from "./web-assets.ts";

describe("registerWebAssets", () => {
  let app: FastifyInstance;
  let dir: string;

  async function start(built: boolean) {
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-web-"));
    if (built) {
      await mkdir(path.join(dir, "assets"));
      await writeFile(path.join(dir, "index.html"), "<html>ui</html>");
      await writeFile(path.join(dir, "assets", "app-1.js"), "console.log(1)");
    }
    app = Fastify();
    app.get("/livez", async () => ({ status: "ok" }));
    app.post("/graphql", async () => ({ data: {} }));
    await registerWebAssets(app, { distDir: dir });
  }

  afterEach(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves files, and index.html for the UI's own paths", async () => {
    await start(true);
    const root = await app.inject({ method: "GET", url: "/" });
    expect(root.statusCode).toBe(200);
    expect(root.body).toContain("ui");
    expect(root.headers["cache-control"]).toBe("no-cache");

    const asset = await app.inject({ method: "GET", url: "/assets/app-1.js" });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["cache-control"]).toContain("immutable");

    const deep = await app.inject({
      method: "GET",
      url: "/stack/prod/run/run_1?x=1",
    });
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toContain("ui");
  });

  it("never shadows API paths and 404s missing files", async () => {
    await start(true);
    expect((await app.inject({ url: "/livez" })).json()).toEqual({
      status: "ok",
    });
    expect(
      (await app.inject({ method: "POST", url: "/graphql" })).statusCode,
    ).toBe(200);
    for (const url of [
      "/graphql",
      "/state/abc",
      "/worker/x",
      "/api/v1/nope",
      "/admin-login",
      "/.well-known/x",
      "/webhooks/github",
      "/uploads/x",
      "/state-download/t",
      "/assets/missing.js",
    ])
      expect((await app.inject({ url })).statusCode, url).toBe(404);
    for (const url of ["/../../etc/passwd", "/..%2f..%2fetc%2fpasswd"])
      expect((await app.inject({ url })).body, url).not.toContain("root:");
  });

  it("explains how to build the UI when it is missing", async () => {
    await start(false);
    const res = await app.inject({ url: "/stacks" });
    expect(res.statusCode).toBe(503);
    expect(res.headers["content-type"]).toContain("text/html");
    expect(res.body).toContain("npm run build -w @stackyard/web");
  });
});
