// What the real Spacelift clients can do against Stackyard: one row per spacectl command
// and per provider resource or data source. The suites (spacectl.test.ts,
// provider.test.ts) run every "works" row end to end and assert that every "not yet" row
// they exercise fails cleanly with NOT_IMPLEMENTED naming the feature; docs/clients.md is
// generated from these tables (node --import tsx scripts/gen-clients-docs.ts) and checked by clients-docs.test.ts.

export type Compat =
  | { status: "works" }
  /** Built and covered by server tests, but not run by the client suites yet. */
  | { status: "expected" }
  | {
      status: "not yet";
      /** The feature that is not built, as Stackyard's error names it. */
      feature: string;
      /** The issue (or area of work) that builds it. */
      builtBy: string;
      /** What the suite asserts: `unbuilt` = NOT_IMPLEMENTED naming the feature. */
      checked?: "unbuilt";
    };

const works: Compat = { status: "works" };
const expected: Compat = { status: "expected" };
const notYet = (
  feature: string,
  builtBy: string,
  checked?: "unbuilt",
): Compat => ({
  status: "not yet",
  feature,
  builtBy,
  ...(checked ? { checked } : {}),
});

const MODULES = "module registry issue";
const IDENTITY = "identity issue (users, roles, API keys)";
const SCHEDULING =
  "scheduling issue (drift detection, scheduled tasks/runs/deletes)";
const DEPENDENCIES = "stack dependencies issue";
const NOTIFICATIONS = "notifications issue (webhooks)";
const AUDIT = "audit trail issue";
const BLUEPRINTS = "blueprints and templates issue";
const PROVIDERS = "provider registry issue";
const CLOUD = "cloud integrations issue";
const OUT_OF_SCOPE = "not planned (SaaS-only)";

export const SPACECTL_COMMANDS: Record<string, Compat> = {
  whoami: works,
  version: works,
  "profile login": works,
  "profile list": works,
  "profile current": works,
  "profile select": works,
  "profile export-token": works,
  "profile logout": works,
  "profile usage-csv": notYet("usage reports", OUT_OF_SCOPE),
  "stack list": works,
  "stack show": works,
  "stack deploy": works,
  "stack preview": works,
  "stack confirm": works,
  "stack discard": works,
  "stack cancel": works,
  "stack stop": expected,
  "stack retry": works,
  "stack approve": expected,
  "stack reject": expected,
  "stack replan": expected,
  "stack promote": expected,
  "stack prioritize": works,
  "stack deprioritize": works,
  "stack task": works,
  "stack logs": works,
  "stack changes": works,
  "stack outputs": works,
  "stack lock": works,
  "stack unlock": works,
  "stack enable": works,
  "stack disable": works,
  "stack set-current-commit": works,
  "stack sync-commit": works,
  "stack local-preview": works,
  "stack environment setvar": works,
  "stack environment mount": works,
  "stack environment list": works,
  "stack environment delete": works,
  "stack state pull": works,
  "stack resources list": works,
  "stack dependencies": notYet("stack dependencies", DEPENDENCIES),
  "stack run list": works,
  "stack delete": works,
  "stack open": notYet("opening a browser", OUT_OF_SCOPE),
  "workerpool list": works,
  "workerpool watch": notYet(
    "public worker pools (interactive watch)",
    OUT_OF_SCOPE,
  ),
  "workerpool worker list": works,
  "workerpool worker drain": works,
  "workerpool worker undrain": works,
  "workerpool worker cycle": works,
  "policy list": works,
  "policy show": works,
  "policy samples": works,
  "policy sample": expected,
  "policy simulate": works,
  "policy samples-indexed": notYet("indexed policy samples", OUT_OF_SCOPE),
  "module list": notYet("the module registry", MODULES, "unbuilt"),
  "module list-versions": notYet("the module registry", MODULES),
  "module create-version": notYet("the module registry", MODULES, "unbuilt"),
  "module delete-version": notYet("the module registry", MODULES),
  "module local-preview": notYet("the module registry", MODULES),
  "blueprint list": notYet("support for blueprints", BLUEPRINTS, "unbuilt"),
  "blueprint show": notYet("support for blueprints", BLUEPRINTS, "unbuilt"),
  "blueprint deploy": notYet("support for blueprints", BLUEPRINTS),
  "template list": notYet("support for templates", BLUEPRINTS),
  "audit-trail list": notYet("the audit trail", AUDIT, "unbuilt"),
  "provider list-gpg-keys": notYet("the provider registry", PROVIDERS),
  "provider list-versions": notYet("the provider registry", PROVIDERS),
  "run-external-dependency mark-completed": notYet(
    "support for external run dependencies",
    DEPENDENCIES,
    "unbuilt",
  ),
  mcp: notYet("the MCP server", OUT_OF_SCOPE),
};

export const PROVIDER_RESOURCES: Record<string, Compat> = {
  spacelift_space: works,
  spacelift_stack: works,
  spacelift_context: works,
  spacelift_context_attachment: works,
  spacelift_environment_variable: works,
  spacelift_mounted_file: works,
  spacelift_policy: works,
  spacelift_policy_attachment: works,
  spacelift_worker_pool: works,
  spacelift_stack_activator: expected,
  spacelift_stack_destructor: notYet(
    "destroying resources on stack deletion",
    DEPENDENCIES,
  ),
  spacelift_run: works,
  spacelift_task: notYet("tasks through the provider", SCHEDULING),
  spacelift_drift_detection: notYet("drift detection", SCHEDULING, "unbuilt"),
  spacelift_scheduled_task: notYet(
    "support for scheduled tasks",
    SCHEDULING,
    "unbuilt",
  ),
  spacelift_scheduled_run: notYet(
    "support for scheduled runs",
    SCHEDULING,
    "unbuilt",
  ),
  spacelift_scheduled_delete_stack: notYet(
    "support for scheduled stack deletion",
    SCHEDULING,
    "unbuilt",
  ),
  spacelift_stack_dependency: notYet(
    "stack dependencies",
    DEPENDENCIES,
    "unbuilt",
  ),
  spacelift_stack_dependency_reference: notYet(
    "stack dependencies",
    DEPENDENCIES,
  ),
  spacelift_webhook: notYet("webhook notifications", NOTIFICATIONS, "unbuilt"),
  spacelift_named_webhook: notYet(
    "support for webhook notifications",
    NOTIFICATIONS,
    "unbuilt",
  ),
  spacelift_named_webhook_secret_header: notYet(
    "support for webhook notifications",
    NOTIFICATIONS,
  ),
  spacelift_audit_trail_webhook: notYet("the audit trail", AUDIT),
  spacelift_api_key: works,
  spacelift_role: works,
  /** The API key and stack forms; the user and IdP group forms are not built. */
  spacelift_role_attachment: works,
  spacelift_user: notYet("users", IDENTITY),
  spacelift_idp_group_mapping: notYet("user groups", IDENTITY),
  spacelift_security_email: notYet("security emails", IDENTITY),
  spacelift_module: notYet("the module registry", MODULES, "unbuilt"),
  spacelift_version: notYet("the module registry", MODULES),
  spacelift_terraform_provider: notYet("the provider registry", PROVIDERS),
  spacelift_blueprint: notYet("support for blueprints", BLUEPRINTS),
  spacelift_template: notYet("support for templates", BLUEPRINTS),
  spacelift_template_version: notYet("support for templates", BLUEPRINTS),
  spacelift_template_deployment: notYet("support for templates", BLUEPRINTS),
  spacelift_aws_integration: notYet("AWS integrations", CLOUD),
  spacelift_aws_integration_attachment: notYet("AWS integrations", CLOUD),
  spacelift_aws_role: notYet("AWS integrations", CLOUD),
  spacelift_azure_integration: notYet("Azure integrations", CLOUD),
  spacelift_azure_integration_attachment: notYet("Azure integrations", CLOUD),
  spacelift_gcp_service_account: notYet("GCP integrations", CLOUD),
  spacelift_gitlab_integration: notYet(
    "VCS integrations through the provider",
    CLOUD,
  ),
  spacelift_azure_devops_integration: notYet("Azure DevOps", CLOUD),
  spacelift_bitbucket_datacenter_integration: notYet("Bitbucket", CLOUD),
  spacelift_vcs_agent_pool: notYet("VCS agents", OUT_OF_SCOPE),
  spacelift_worker_pool_recycle: notYet("worker pool recycling", OUT_OF_SCOPE),
  spacelift_default_runner_image: notYet("runner images", OUT_OF_SCOPE),
  spacelift_saved_filter: notYet("saved filters", OUT_OF_SCOPE),
  spacelift_plugin: notYet("plugins", OUT_OF_SCOPE),
  spacelift_plugin_template: notYet("plugins", OUT_OF_SCOPE),
  spacelift_repo: notYet("hosted repositories", OUT_OF_SCOPE),
  spacelift_repo_file: notYet("hosted repositories", OUT_OF_SCOPE),
};

export const PROVIDER_DATA_SOURCES: Record<string, Compat> = {
  spacelift_account: works,
  spacelift_space: expected,
  spacelift_spaces: expected,
  spacelift_stack: expected,
  spacelift_stacks: expected,
  spacelift_context: expected,
  spacelift_contexts: expected,
  spacelift_policy: expected,
  spacelift_policies: works,
  spacelift_worker_pool: expected,
  spacelift_worker_pools: works,
  spacelift_current_space: notYet("SPACELIFT_API_TOKEN inside runs", IDENTITY),
  spacelift_current_stack: notYet("SPACELIFT_API_TOKEN inside runs", IDENTITY),
  spacelift_stack_outputs: expected,
  spacelift_environment_variable: expected,
  spacelift_mounted_file: expected,
  spacelift_context_attachment: expected,
  spacelift_space_by_path: expected,
  spacelift_drift_detection: notYet("drift detection", SCHEDULING),
  spacelift_scheduled_task: notYet("support for scheduled tasks", SCHEDULING),
  spacelift_scheduled_run: notYet("support for scheduled runs", SCHEDULING),
  spacelift_scheduled_delete_stack: notYet(
    "support for scheduled stack deletion",
    SCHEDULING,
  ),
  spacelift_webhook: notYet("webhook notifications", NOTIFICATIONS),
  spacelift_named_webhook: notYet(
    "support for webhook notifications",
    NOTIFICATIONS,
  ),
  spacelift_module: notYet("the module registry", MODULES),
  spacelift_modules: notYet("the module registry", MODULES),
  spacelift_role: works,
  spacelift_role_actions: works,
  spacelift_user: notYet("users", IDENTITY),
  spacelift_idp_group_mapping: notYet("user groups", IDENTITY),
  spacelift_template: notYet("support for templates", BLUEPRINTS),
  spacelift_template_version: notYet("support for templates", BLUEPRINTS),
  spacelift_template_deployment: notYet("support for templates", BLUEPRINTS),
  spacelift_aws_integration: notYet("AWS integrations", CLOUD),
  spacelift_aws_integrations: notYet("AWS integrations", CLOUD),
  spacelift_aws_integration_attachment: notYet("AWS integrations", CLOUD),
  spacelift_aws_integration_attachment_external_id: notYet(
    "AWS integrations",
    CLOUD,
  ),
  spacelift_aws_role: notYet("AWS integrations", CLOUD),
  spacelift_azure_integration: notYet("Azure integrations", CLOUD),
  spacelift_azure_integrations: notYet("Azure integrations", CLOUD),
  spacelift_azure_integration_attachment: notYet("Azure integrations", CLOUD),
  spacelift_gcp_service_account: notYet("GCP integrations", CLOUD),
  spacelift_github_enterprise_integration: notYet(
    "VCS integrations through the provider",
    CLOUD,
  ),
  spacelift_gitlab_integration: notYet(
    "VCS integrations through the provider",
    CLOUD,
  ),
  spacelift_gitlab_webhook_endpoint: notYet(
    "VCS integrations through the provider",
    CLOUD,
  ),
  spacelift_bitbucket_cloud_integration: notYet("Bitbucket", CLOUD),
  spacelift_bitbucket_datacenter_integration: notYet("Bitbucket", CLOUD),
  spacelift_azure_devops_integration: notYet("Azure DevOps", CLOUD),
  spacelift_vcs_agent_pool: notYet("VCS agents", OUT_OF_SCOPE),
  spacelift_vcs_agent_pools: notYet("VCS agents", OUT_OF_SCOPE),
  spacelift_ips: notYet("Spacelift's egress addresses", OUT_OF_SCOPE),
  spacelift_tool_versions: notYet("tool version lists", OUT_OF_SCOPE),
  spacelift_saved_filter: notYet("saved filters", OUT_OF_SCOPE),
  spacelift_saved_filters: notYet("saved filters", OUT_OF_SCOPE),
  spacelift_plugin: notYet("plugins", OUT_OF_SCOPE),
  spacelift_plugin_template: notYet("plugins", OUT_OF_SCOPE),
  spacelift_repo: notYet("hosted repositories", OUT_OF_SCOPE),
  spacelift_repos: notYet("hosted repositories", OUT_OF_SCOPE),
};

/** docs/clients.md, generated from the tables above and formatted as `format:check` wants. */
export async function renderClientsDoc(): Promise<string> {
  const prettier = await import("prettier");
  const table = (title: string, rows: Record<string, Compat>) => {
    const lines = [
      `## ${title}`,
      "",
      "| | Status | Built by |",
      "| --- | --- | --- |",
    ];
    for (const [name, c] of Object.entries(rows).sort(([a], [b]) =>
      a.localeCompare(b),
    )) {
      lines.push(
        c.status === "works"
          ? `| \`${name}\` | works | |`
          : c.status === "expected"
            ? `| \`${name}\` | built; not in the client suites yet | |`
            : `| \`${name}\` | not yet: ${c.feature} | ${c.builtBy} |`,
      );
    }
    return lines.join("\n");
  };
  const markdown = `# The Spacelift clients against Stackyard

<!-- Generated from e2e/clients-compat.ts by \`node --import tsx scripts/gen-clients-docs.ts\`; do not edit. -->

The real \`spacectl\` and \`terraform-provider-spacelift\`, built from their source
(\`../shared/clients/build.sh\`, run by \`scripts/setup.sh\` when \`SETUP_CLIENTS=1\`, which
\`npm run test:all\` sets), drive Stackyard unchanged in \`e2e/spacectl.test.ts\` and
\`e2e/provider.test.ts\`. "works" rows are run there end to end; a "not yet" row answers a
GraphQL error with \`extensions.code\` \`NOT_IMPLEMENTED\` naming the feature (or, for
features outside Stackyard's scope, graphql-js's own validation message), never
"internal error".

${table("spacectl commands", SPACECTL_COMMANDS)}

${table("Provider resources", PROVIDER_RESOURCES)}

${table("Provider data sources", PROVIDER_DATA_SOURCES)}
`;
  return prettier.format(markdown, { parser: "markdown" });
}
