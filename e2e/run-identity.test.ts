import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStack,
  gitRepo,
  readRunLogs,
  startUp,
  triggerRun,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// Run identity (workload identity) end to end: `stackyard up` with real OpenTofu; a
// run's hooks read SPACELIFT_OIDC_TOKEN and the file `spacelift.oidc` at the workspace
// root. The launcher masks the token in the run logs, so the hook prints it rot13'd;
// the test verifies it with jose against the JWKS found through the published OpenID
// configuration over HTTP, as a cloud provider federating with Stackyard would.

const rot13 = (s: string) =>
  s.replace(/[A-Za-z]/g, (c) => {
    const base = c <= "Z" ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });

describe("run identity tokens", () => {
  let sy: Stackyard;

  beforeAll(async () => {
    sy = await startUp();
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("give each run a token in its env and workspace file that verifies against the published JWKS", async () => {
    const stack = await createStack(sy.client, {
      name: "Identity",
      repository: await gitRepo(),
      beforePlan: [
        'echo "env token: $SPACELIFT_OIDC_TOKEN"',
        'echo "root: $TF_VAR_spacelift_workspace_root"',
        'test "$SPACELIFT_OIDC_TOKEN" = "$(cat "$TF_VAR_spacelift_workspace_root/spacelift.oidc")" && echo "file matches env"',
        "echo \"rot13: $(tr 'A-Za-z' 'N-ZA-Mn-za-m' < \"$TF_VAR_spacelift_workspace_root/spacelift.oidc\")\"",
      ],
    });
    const run = await triggerRun(sy.client, stack, "PROPOSED");
    await waitForRunState(sy.client, stack, run, ["FINISHED", "FAILED"]);
    const logs = await readRunLogs(sy.client, stack, run);
    expect(logs).toContain("env token: *****");
    expect(logs).toContain("file matches env");
    const token = rot13(/rot13: (\S+)/.exec(logs)?.[1] ?? "");
    expect(token.split(".")).toHaveLength(3);
    expect(logs).not.toContain(token);

    const discovery = (await (
      await fetch(`${sy.base}/.well-known/openid-configuration`)
    ).json()) as { issuer: string; jwks_uri: string };
    const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: discovery.issuer,
      audience: new URL(discovery.issuer).host,
      algorithms: ["RS256"],
    });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({
      sub: `space:root:stack:${stack}:run_type:PROPOSED:scope:read`,
      spaceId: "root",
      callerType: "stack",
      callerId: stack,
      runType: "PROPOSED",
      runId: run,
      scope: "read",
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);

    // A run identity token is not a session: GraphQL refuses it.
    const viewer = await fetch(`${sy.base}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query: "{ viewer { id } }" }),
    });
    expect(
      ((await viewer.json()) as { data?: { viewer: unknown } }).data?.viewer,
    ).toBeNull();
  }, 300_000);
});
