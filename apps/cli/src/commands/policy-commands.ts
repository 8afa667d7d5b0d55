import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { ApiError, createClient } from "@stackyard/api-client";
import { CredentialsError, resolveCredentials } from "../credentials.ts";

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const POLICY_TYPES = [
  "ACCESS",
  "APPROVAL",
  "GIT_PUSH",
  "INTENT",
  "LOGIN",
  "NOTIFICATION",
  "PLAN",
  "TASK",
  "TRIGGER",
];

const SEARCH = `query($input: SearchInput!){searchPolicies(input: $input){edges{node{id name type labels space engineType}}pageInfo{endCursor hasNextPage}}}`;
const CREATE = `mutation($input: PolicyCreateInput!){policyCreatev2(input: $input){id name type engineType}}`;
const ATTACH = `mutation($id: ID!, $stack: ID!){policyAttach(id: $id, stack: $stack){id stackId}}`;
const SHOW = `query($policyId: ID!){policy(id: $policyId){id body type}}`;
const SIMULATE = `mutation($body: String!, $input: String!, $type: PolicyType!){policySimulate(body: $body, input: $input, type: $type)}`;

/** A file's contents when `value` names an existing file, else `value` itself. */
function fileOrText(value: string): string {
  return existsSync(value) ? readFileSync(value, "utf8") : value;
}

/**
 * `stackyard policy list | create | attach | simulate`: Rego policies (the same GraphQL
 * operations spacectl and the Terraform provider use).
 */
export function addPolicyCommands(
  program: Command,
  result: { code: number },
  io: Io,
): void {
  const run = async (
    dataDir: string | undefined,
    fn: (client: ReturnType<typeof createClient>) => Promise<void>,
  ) => {
    try {
      result.code = 0;
      await fn(createClient(resolveCredentials(io.env, dataDir)));
    } catch (err) {
      if (err instanceof ApiError || err instanceof CredentialsError) {
        io.stderr.write(`stackyard: ${err.message}\n`);
        result.code = 1;
        return;
      }
      throw err;
    }
  };
  const usage = (message: string) => {
    io.stderr.write(`stackyard: ${message}\n`);
    result.code = 2;
  };
  const dataDirOption = [
    "--data-dir <dir>",
    "use the admin key of this `stackyard up` data directory",
  ] as const;

  const policy = program
    .command("policy")
    .description("Rego policies evaluated by OPA");

  policy
    .command("list")
    .description("policies the caller can read: id, type, dialect, labels")
    .option("--type <type>", `only this type (${POLICY_TYPES.join(", ")})`)
    .option(...dataDirOption)
    .action(async (opts: { type?: string; dataDir?: string }) => {
      if (opts.type && !POLICY_TYPES.includes(opts.type))
        return usage(`--type must be one of ${POLICY_TYPES.join(", ")}`);
      await run(opts.dataDir, async (client) => {
        let after: string | null = null;
        for (let page = 0; page < 100; page++) {
          const data: {
            searchPolicies: {
              edges: Array<{
                node: {
                  id: string;
                  name: string;
                  type: string;
                  labels: string[];
                  engineType: string;
                };
              }>;
              pageInfo: { endCursor: string | null; hasNextPage: boolean };
            };
          } = await client.request(SEARCH, {
            input: {
              first: 100,
              after,
              predicates: opts.type
                ? [
                    {
                      field: "type",
                      constraint: { enumEquals: [opts.type] },
                    },
                  ]
                : [],
            },
          });
          for (const { node } of data.searchPolicies.edges)
            io.stdout.write(
              `${node.id}\t${node.type}\t${node.engineType}\t${node.labels.join(",")}\n`,
            );
          if (!data.searchPolicies.pageInfo.hasNextPage) break;
          after = data.searchPolicies.pageInfo.endCursor;
        }
      });
    });

  policy
    .command("create")
    .description(
      "create a policy from a .rego file; syntax errors and disabled built-ins are reported with their line",
    )
    .requiredOption("--name <name>", "policy name (its id is the slug)")
    .requiredOption("--type <type>", `one of ${POLICY_TYPES.join(", ")}`)
    .requiredOption("--file <path>", "the Rego body (package spacelift)")
    .option(
      "--label <label...>",
      "labels, e.g. autoattach:prod or autoattach:*",
    )
    .option("--space <space>", "space id (default: the caller's space)")
    .option(...dataDirOption)
    .action(
      async (opts: {
        name: string;
        type: string;
        file: string;
        label?: string[];
        space?: string;
        dataDir?: string;
      }) => {
        if (!POLICY_TYPES.includes(opts.type))
          return usage(`--type must be one of ${POLICY_TYPES.join(", ")}`);
        if (!existsSync(opts.file))
          return usage(`--file ${opts.file} does not exist`);
        const body = readFileSync(opts.file, "utf8");
        await run(opts.dataDir, async (client) => {
          const data = await client.request<{
            policyCreatev2: { id: string; engineType: string };
          }>(CREATE, {
            input: {
              name: opts.name,
              type: opts.type,
              body,
              labels: opts.label ?? [],
              space: opts.space ?? null,
            },
          });
          io.stdout.write(
            `${data.policyCreatev2.id}\t${data.policyCreatev2.engineType}\n`,
          );
        });
      },
    );

  policy
    .command("attach")
    .description("attach a policy to a stack")
    .requiredOption("--id <policy>", "policy id")
    .requiredOption("--stack <stack>", "stack id")
    .option(...dataDirOption)
    .action(async (opts: { id: string; stack: string; dataDir?: string }) => {
      await run(opts.dataDir, async (client) => {
        const data = await client.request<{ policyAttach: { id: string } }>(
          ATTACH,
          { id: opts.id, stack: opts.stack },
        );
        io.stdout.write(`${data.policyAttach.id}\n`);
      });
    });

  policy
    .command("simulate")
    .description(
      "evaluate a stored policy against an input document and print the result",
    )
    .requiredOption("--id <policy>", "policy id")
    .requiredOption("--input <json|file>", "the input document, or a file")
    .option(...dataDirOption)
    .action(async (opts: { id: string; input: string; dataDir?: string }) => {
      const input = fileOrText(opts.input);
      try {
        JSON.parse(input);
      } catch (err) {
        return usage(`--input is not JSON: ${(err as Error).message}`);
      }
      await run(opts.dataDir, async (client) => {
        const shown = await client.request<{
          policy: { body: string; type: string } | null;
        }>(SHOW, { policyId: opts.id });
        if (!shown.policy) {
          io.stderr.write(`stackyard: policy ${opts.id} not found\n`);
          result.code = 1;
          return;
        }
        const out = await client.request<{ policySimulate: string }>(SIMULATE, {
          body: shown.policy.body,
          input,
          type: shown.policy.type,
        });
        io.stdout.write(`${out.policySimulate}\n`);
      });
    });
}
