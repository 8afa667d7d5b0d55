import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { WORKER_API_PREFIX, type RunAssign } from "@stackyard/protocol";
import { create } from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExecutionKit,
  waitFor,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN, apiKeySession } from "../../../test/stacks-fixtures.ts";

let kit: ExecutionKit;
beforeAll(async () => {
  kit = await createExecutionKit();
});
afterAll(async () => {
  await kit?.destroy();
});

/** A gzip tar of `files` (path → content, or `{ symlink }`), packed from a scratch dir. */
async function archiveOf(
  files: Record<string, string | { symlink: string }>,
): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "lws-test-"));
  try {
    for (const [name, content] of Object.entries(files)) {
      const target = path.join(dir, name);
      await mkdir(path.dirname(target), { recursive: true });
      if (typeof content === "string") await writeFile(target, content);
      else await symlink(content.symlink, target);
    }
    const top = [...new Set(Object.keys(files).map((f) => f.split("/")[0]!))];
    const chunks: Buffer[] = [];
    for await (const c of create({ gzip: true, cwd: dir, portable: true }, top))
      chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function put(url: string, body: Buffer) {
  const u = new URL(url);
  const res = await kit.http.inject({
    method: "PUT",
    url: `${u.pathname}${u.search}`,
    headers: { "content-length": String(body.length) },
    payload: body,
  });
  return { status: res.statusCode, body: res.body };
}

async function enabledStack() {
  const stack = await buildStack(kit.t.db, {
    local_preview_enabled: true,
    tracked_commit_sha: "abc1234",
  });
  await kit.stacks.addStackConfig(ADMIN, stack.id, {
    id: "TF_VAR_greeting",
    type: "ENVIRONMENT_VARIABLE",
    value: "from-stack",
    writeOnly: false,
  });
  await kit.stacks.addStackConfig(ADMIN, stack.id, {
    id: "REGION",
    type: "ENVIRONMENT_VARIABLE",
    value: "eu-west-1",
    writeOnly: false,
  });
  return stack;
}

const TF = 'resource "terraform_data" "x" {}\n';

describe("local previews", () => {
  it("refuses an upload on a stack without local preview, and to readers", async () => {
    const off = await buildStack(kit.t.db);
    await expect(
      kit.localPreviews.reserveUpload(ADMIN, off.id),
    ).rejects.toThrow(/local preview is not enabled on stack/);
    const on = await enabledStack();
    const reader = await apiKeySession(kit.t.db, {
      spaceId: "root",
      level: "READ",
    });
    await expect(
      kit.localPreviews.reserveUpload(reader, on.id),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("takes one valid upload per URL, refusing bad tokens, non-archives and escapes first", async () => {
    const stack = await enabledStack();
    const { id, uploadUrl } = await kit.localPreviews.reserveUpload(
      ADMIN,
      stack.id,
    );
    expect(id).toMatch(/^lws_[0-9a-z]{26}$/);
    expect(uploadUrl).toMatch(
      new RegExp(`^http://stackyard.test/local-workspaces/${id}\\?token=`),
    );
    const good = await archiveOf({ [`${id}/main.tf`]: TF });

    const forged = await put(
      uploadUrl.replace(/token=.*/, "token=x.y.z"),
      good,
    );
    expect(forged.status).toBe(401);
    const plain = await put(uploadUrl, Buffer.from("not an archive"));
    expect(plain.status, plain.body).toBe(400);
    expect(plain.body).toContain("not gzip-compressed");
    const outside = await put(
      uploadUrl,
      await archiveOf({ [`${id}/main.tf`]: TF, "elsewhere/x.tf": TF }),
    );
    expect(outside.status).toBe(400);
    expect(outside.body).toContain(
      `must be under the top-level directory ${id}/`,
    );
    const escaping = await put(
      uploadUrl,
      await archiveOf({
        [`${id}/main.tf`]: TF,
        [`${id}/evil`]: { symlink: "../../etc/passwd" },
      }),
    );
    expect(escaping.status).toBe(400);
    expect(escaping.body).toContain("leaves the workspace");

    const accepted = await put(uploadUrl, good);
    expect(accepted.status, accepted.body).toBe(200);
    expect(JSON.parse(accepted.body)).toEqual({ id, size: good.length });
    const again = await put(uploadUrl, good);
    expect(again.status).toBe(409);
  });

  it("proposes one run per workspace, on its own stack, with overrides over the stack's variables", async () => {
    const stack = await enabledStack();
    const other = await enabledStack();
    const { id, uploadUrl } = await kit.localPreviews.reserveUpload(
      ADMIN,
      stack.id,
    );
    const archive = await archiveOf({ [`${id}/main.tf`]: TF });
    await expect(
      kit.localPreviews.propose(ADMIN, { stackId: stack.id, workspaceId: id }),
    ).rejects.toThrow(/has not been uploaded yet/);
    expect((await put(uploadUrl, archive)).status).toBe(200);
    await expect(
      kit.localPreviews.propose(ADMIN, { stackId: other.id, workspaceId: id }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      kit.localPreviews.propose(ADMIN, {
        stackId: stack.id,
        workspaceId: id,
        overrides: [{ key: "BAD NAME", value: "x" }],
      }),
    ).rejects.toThrow(/environmentVarsOverrides\[0\]\.key/);

    const run = await kit.localPreviews.propose(ADMIN, {
      stackId: stack.id,
      workspaceId: id,
      overrides: [{ key: "TF_VAR_greeting", value: "from-override" }],
    });
    expect(run.type).toBe("PROPOSED");
    expect(run.commitSha).toBeNull();
    expect(run.title).toMatch(/^Local preview by /);
    await expect(
      kit.localPreviews.propose(ADMIN, { stackId: stack.id, workspaceId: id }),
    ).rejects.toThrow(/already used by run/);

    const worker = await kit.addWorker();
    await kit.walk(run.id, ["READY"]);
    await kit.t.db
      .updateTable("workers")
      .set({ drained: true })
      .where("id", "<>", worker.id)
      .execute();
    await kit.dispatcher.dispatch();
    await kit.t.db.updateTable("workers").set({ drained: false }).execute();
    const assign = await waitFor(
      () =>
        kit.published.flatMap((p) =>
          p.msg.type === "run.assign" && p.msg.runId === run.id ? [p.msg] : [],
        )[0] as RunAssign | undefined,
      "run.assign",
    );
    expect(assign.spec.localWorkspace).toEqual({ id });
    expect(assign.spec.repository.commitSha).toBeNull();
    const byName = (n: string) =>
      assign.spec.environment.filter((e) => e.name === n);
    expect(byName("TF_VAR_greeting")).toEqual([
      {
        name: "TF_VAR_greeting",
        value: { sealed: false, value: "from-override" },
        secret: false,
      },
    ]);
    expect(byName("REGION")).toHaveLength(1);

    const token = kit.runToken(assign);
    const fetched = await kit.http.inject({
      method: "GET",
      url: `${WORKER_API_PREFIX}/${run.id}/local-workspace`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.rawPayload.equals(archive)).toBe(true);
    const anonymous = await kit.http.inject({
      method: "GET",
      url: `${WORKER_API_PREFIX}/${run.id}/local-workspace`,
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it("answers the GraphQL mutations as spacectl sends them", async () => {
    const stack = await enabledStack();
    const reserved = (await kit.graphql(
      "mutation($stack:ID!){uploadLocalWorkspace(stack: $stack){id,uploadUrl,uploadHeaders{entries{key,value}}}}",
      { stack: stack.id },
    )) as {
      json: {
        data: {
          uploadLocalWorkspace: {
            id: string;
            uploadUrl: string;
            uploadHeaders: { entries: unknown[] };
          };
        };
      };
    };
    const upload = reserved.json.data.uploadLocalWorkspace;
    expect(upload.uploadHeaders).toEqual({ entries: [] });
    const archive = await archiveOf({ [`${upload.id}/main.tf`]: TF });
    expect((await put(upload.uploadUrl, archive)).status).toBe(200);
    const proposed = (await kit.graphql(
      "mutation($environmentVarsOverrides: [EnvironmentVariable!]!, $stack: ID!, $workspace: ID!){runProposeLocalWorkspace(stack: $stack, workspace: $workspace, environmentVarsOverrides: $environmentVarsOverrides){id}}",
      {
        stack: stack.id,
        workspace: upload.id,
        environmentVarsOverrides: [],
      },
    )) as { json: { data?: { runProposeLocalWorkspace: { id: string } } } };
    const runId = proposed.json.data?.runProposeLocalWorkspace.id ?? "";
    expect(runId).toMatch(/^run_/);
    const read = (await kit.graphql(
      "query($s: ID!, $r: ID!){stack(id: $s){run(id: $r){type stackyardLocalPreview commit{hash}}}}",
      { s: stack.id, r: runId },
    )) as { json: { data?: { stack: { run: unknown } } } };
    expect(read.json.data?.stack.run).toEqual({
      type: "PROPOSED",
      stackyardLocalPreview: true,
      commit: { hash: "" },
    });
  });
});
