import { readdir } from "node:fs/promises";
import path from "node:path";
import { decodeJwt } from "jose";

// Looking for secrets where they must not be: the forms a secret takes on its way, and
// the tokens a worker holds, found by shape. Used by the secret canaries.

/** Audiences of the tokens a worker holds during a run; none may leave the run. */
export const WORKER_AUDIENCES = [
  "stackyard:worker-api",
  "stackyard:state-backend",
];

export interface Recorded {
  label: string;
  body: string;
}

/** Every JWT in `text` whose audience is a worker's. */
export function workerTokensIn(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(
    /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g,
  )) {
    try {
      const aud = decodeJwt(m[0]).aud;
      const auds = Array.isArray(aud) ? aud : [aud];
      if (auds.some((a) => a && WORKER_AUDIENCES.includes(a))) found.push(m[0]);
    } catch {
      // not a JWT after all
    }
  }
  return found;
}

/** The forms a secret may take on its way: as is, and base64 (mounted files travel so). */
export function formsOf(secret: string): string[] {
  const forms = [secret];
  if (!secret.includes("\n"))
    forms.push(Buffer.from(secret).toString("base64"));
  return forms;
}

/** Distinctive pieces of a PEM private key: a few lines of its base64 body. */
export function pemPieces(pem: string): string[] {
  const body = pem
    .split("\n")
    .filter((l) => l && !l.startsWith("-----"))
    .filter((l) => l.length >= 40);
  return [body[1], body[Math.floor(body.length / 2)], body.at(-2)].filter(
    (l): l is string => Boolean(l),
  );
}

export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}
