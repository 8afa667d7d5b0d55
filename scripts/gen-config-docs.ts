import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderConfigDocs } from "../apps/server/src/platform/config/config-docs.ts";

const target = fileURLToPath(
  new URL("../docs/configuration.md", import.meta.url),
);
writeFileSync(target, await renderConfigDocs());
console.log(`wrote ${target}`);
