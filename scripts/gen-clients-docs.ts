import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderClientsDoc } from "../e2e/clients-compat.ts";

const target = fileURLToPath(new URL("../docs/clients.md", import.meta.url));
writeFileSync(target, await renderClientsDoc());
console.log(`wrote ${target}`);
