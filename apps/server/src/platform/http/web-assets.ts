import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** Where `npm run build -w @stackyard/web` writes the UI (apps/web/dist). */
export const DEFAULT_WEB_DIST = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../../web/dist",
);

/**
 * First path segments that belong to the API and never fall back to the UI: an unknown
 * path under them answers the ordinary 404, not index.html.
 */
export const RESERVED_PREFIXES = [
  "graphql",
  "readyz",
  "livez",
  "metrics",
  "state",
  "state-download",
  "uploads",
  "worker",
  "workers",
  "admin-login",
  ".well-known",
  "webhooks",
  "api",
];

export function isReservedPath(urlPath: string): boolean {
  const first = urlPath.split("?")[0]?.split("/")[1] ?? "";
  return RESERVED_PREFIXES.includes(first);
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stackyard: web UI not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem}code{background:#8882;padding:.1em .3em;border-radius:4px}</style>
</head><body>
<h1>The web UI has not been built</h1>
<p>This Stackyard server is running, and its API answers at <code>/graphql</code>, but the files of the web UI are missing.</p>
<p>Build them from the repository root, then reload this page (no restart needed):</p>
<pre><code>npm run setup        # or just: npm run build -w @stackyard/web</code></pre>
</body></html>`;

/**
 * Serves the web UI at `/`: built files as they are (hashed assets cached for a year),
 * and index.html for every other GET that is not an API path, so the UI's own paths
 * (`/stacks`, `/stack/x/run/y`) survive a reload. The dist directory is looked up per
 * request, so building the UI while the server runs needs no restart.
 */
export async function registerWebAssets(
  app: FastifyInstance,
  opts: { distDir?: string } = {},
): Promise<void> {
  const root = opts.distDir ?? DEFAULT_WEB_DIST;
  await app.register(fastifyStatic, {
    root,
    serve: false,
    // index.html must be revalidated; hashed assets never change.
    cacheControl: false,
  });

  async function handler(req: FastifyRequest, reply: FastifyReply) {
    const urlPath = decodeURIComponent(req.url.split("?")[0] ?? "/");
    if (isReservedPath(urlPath)) return reply.callNotFound();
    if (!existsSync(path.join(root, "index.html")))
      return reply
        .status(503)
        .header("cache-control", "no-store")
        .type("text/html; charset=utf-8")
        .send(NOT_BUILT);
    const rel = path.posix.normalize(urlPath).replace(/^\/+/, "");
    const file = path.join(root, rel);
    if (rel && !rel.startsWith("..") && isFile(file)) {
      const immutable = rel.startsWith("assets/");
      return reply
        .header(
          "cache-control",
          immutable ? "public, max-age=31536000, immutable" : "no-cache",
        )
        .header("x-content-type-options", "nosniff")
        .sendFile(rel);
    }
    // A missing file (has an extension) is a 404; anything else is a UI route.
    if (path.posix.extname(rel)) return reply.callNotFound();
    return reply
      .header("cache-control", "no-cache")
      .header("x-content-type-options", "nosniff")
      .header("x-frame-options", "DENY")
      .sendFile("index.html");
  }

  app.get("/", handler);
  app.get("/*", handler);
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
