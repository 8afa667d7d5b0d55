#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader (no build step).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
// Every command has finished and cleaned up by now; a handle some library left open (a
// socket's reconnect timer, say) must not keep a stopped process alive. The timer is
// unref'd: when nothing else is left, the process exits at once, as before.
globalThis.setTimeout(() => process.exit(), 5000).unref();
