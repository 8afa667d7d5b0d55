import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  ApiError,
  createClient,
  WORKER_POOL_CREATE,
} from "@stackyard/api-client";
import { CredentialsError, resolveCredentials } from "../credentials.ts";

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/**
 * `stackyard pool create`: a worker pool and its credentials. Without --csr, Stackyard
 * generates the key pair and this is the only time the private key is shown.
 */
export function addPoolCommands(
  program: Command,
  result: { code: number },
  io: Io,
): void {
  const pool = program.command("pool").description("work with worker pools");
  pool
    .command("create")
    .description("create a worker pool; prints its token and private key once")
    .requiredOption("--name <name>", "pool name")
    .option("--description <text>", "description")
    .option(
      "--csr <file>",
      "PEM certificate request (openssl req -new -newkey rsa:4096 -nodes ...); keeps the private key yours",
    )
    .option(
      "--data-dir <dir>",
      "use the admin key of this `stackyard up` data directory",
    )
    .action(
      async (opts: {
        name: string;
        description?: string;
        csr?: string;
        dataDir?: string;
      }) => {
        try {
          const csr = opts.csr ? readFileSync(opts.csr, "utf8") : null;
          const client = createClient(resolveCredentials(io.env, opts.dataDir));
          const data = await client.request(WORKER_POOL_CREATE, {
            name: opts.name,
            description: opts.description ?? null,
            csr,
          });
          const created = data.stackyardWorkerPoolCreate;
          io.stdout.write(`pool:        ${created.pool.id}\n`);
          io.stdout.write(`STACKYARD_TOKEN=${created.token}\n`);
          if (created.privateKey) {
            io.stdout.write(
              `STACKYARD_POOL_PRIVATE_KEY=${created.privateKey}\n`,
            );
            io.stderr.write(
              "\nThe private key is shown only now; store it as a secret.\n",
            );
          } else {
            io.stderr.write(
              "\nSet STACKYARD_POOL_PRIVATE_KEY to the base64 of your CSR's private key (base64 -w0 < pool.key).\n",
            );
          }
          io.stderr.write(
            "Start a launcher with both variables set: stackyard launcher\n",
          );
          result.code = 0;
        } catch (err) {
          if (err instanceof ApiError || err instanceof CredentialsError) {
            io.stderr.write(`stackyard: ${err.message}\n`);
            result.code = 1;
            return;
          }
          throw err;
        }
      },
    );
}
