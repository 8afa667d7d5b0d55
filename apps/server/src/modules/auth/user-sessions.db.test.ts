import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import type { LoginPolicyPort } from "./auth-service.ts";
import {
  createUserSessions,
  SESSION_ABSOLUTE_SECONDS,
  SESSION_IDLE_SECONDS,
  type SsoIdentity,
} from "./user-sessions.ts";

// Browser sessions of SSO users against real Postgres: user creation on first login, the
// one SSO admin, login policy verdicts (with teams), idle and absolute expiry, logout,
// SSO switched off, and a login policy change.

const identity = (name: string, teams: string[] = []): SsoIdentity => ({
  issuer: "https://idp.example.com",
  subject: `sub-${name}`,
  email: `${name}@example.com`,
  name: `${name} person`,
  teams,
});

describe("user sessions", () => {
  let t: TestDatabase;
  let now = new Date("2026-01-01T10:00:00Z");
  const clock = () => now;
  const advance = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };
  let policy: LoginPolicyPort | undefined;
  let policyChange: { at: Date; by: string } | null = null;
  const sessions = (
    opts: { ssoEnabled?: boolean; adminLogin?: string | null } = {},
  ) =>
    createUserSessions({
      db: t.db,
      clock,
      loginPolicy: (subject) =>
        policy
          ? policy(subject)
          : Promise.resolve({
              noPolicies: true,
              allow: false,
              admin: false,
              roles: {},
              teams: subject.teams ?? [],
              reasons: [],
            }),
      lastLoginPolicyChange: async () => policyChange,
      adminLogin: opts.adminLogin ?? "admin@example.com",
      ssoEnabled: opts.ssoEnabled ?? true,
    });

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it("creates users on first login and makes only admin_login the SSO admin", async () => {
    const s = sessions();
    const first = await s.signIn(identity("someone"));
    expect(first.session).toMatchObject({ kind: "user", admin: false });
    const admin = await s.signIn(identity("admin", ["platform"]));
    expect(admin.session).toMatchObject({ admin: true, teams: ["platform"] });
    // The same IdP subject is the same user on the next login.
    const again = await s.signIn(identity("admin"));
    expect(again.session.id).toBe(admin.session.id);
    const users = await t.db
      .selectFrom("users")
      .select(["username", "is_admin"])
      .orderBy("username")
      .execute();
    expect(users).toEqual([
      { username: "admin@example.com", is_admin: true },
      { username: "someone@example.com", is_admin: false },
    ]);
  });

  it("refuses a second IdP identity claiming a taken email", async () => {
    await expect(
      sessions().signIn({ ...identity("someone"), subject: "other-sub" }),
    ).rejects.toThrow(/already uses the email someone@example.com/);
  });

  it("passes teams to login policies, refuses what they deny and keeps their grants", async () => {
    const seen: Array<string[] | undefined> = [];
    policy = async (subject) => {
      seen.push(subject.teams);
      const allow = subject.teams?.includes("engineering") ?? false;
      return {
        noPolicies: false,
        allow,
        admin: false,
        roles: (allow ? { "team-a": ["space-writer"] } : {}) as Record<
          string,
          string[]
        >,
        // A `team` rule adding a team of its own.
        teams: [...(subject.teams ?? []), ...(allow ? ["policy-team"] : [])],
        reasons: allow ? [] : ["default is deny"],
      };
    };
    try {
      const bob = await sessions().signIn(identity("bob", ["engineering"]));
      expect(bob.session.policyGrants).toEqual({ "team-a": "WRITE" });
      expect(bob.session.teams).toEqual(["engineering", "policy-team"]);
      await expect(
        sessions().signIn(identity("carol", ["contractors"])),
      ).rejects.toThrow(/login refused by login policy: default is deny/);
      // The SSO admin is never locked out by the default deny.
      const admin = await sessions().signIn(identity("admin"));
      expect(admin.session.admin).toBe(true);
      expect(seen).toEqual([["engineering"], ["contractors"], []]);
      const live = await sessions().authenticate(bob.secret);
      expect(live.policyGrants).toEqual({ "team-a": "WRITE" });
    } finally {
      policy = undefined;
    }
  });

  it("ends sessions after the idle timeout, but not while they are used", async () => {
    const s = sessions();
    const { secret } = await s.signIn(identity("idle"));
    advance(SESSION_IDLE_SECONDS - 60);
    await s.authenticate(secret);
    advance(SESSION_IDLE_SECONDS - 60);
    await expect(s.authenticate(secret)).resolves.toMatchObject({
      email: "idle@example.com",
    });
    advance(SESSION_IDLE_SECONDS + 1);
    await expect(s.authenticate(secret)).rejects.toThrow(/idle/);
  });

  it("ends sessions at the absolute expiry however busy", async () => {
    const s = sessions();
    const { secret } = await s.signIn(identity("busy"));
    for (let used = 0; used < SESSION_ABSOLUTE_SECONDS; used += 3600) {
      await s.authenticate(secret);
      advance(3600);
    }
    await expect(s.authenticate(secret)).rejects.toThrow(/expired/);
  });

  it("ends a session at logout, and every SSO session when SSO is switched off", async () => {
    const s = sessions();
    const a = await s.signIn(identity("leaver"));
    const b = await s.signIn(identity("stayer"));
    await s.signOut(a.secret);
    await expect(s.authenticate(a.secret)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    await expect(s.authenticate(b.secret)).resolves.toBeTruthy();
    await expect(
      sessions({ ssoEnabled: false }).authenticate(b.secret),
    ).rejects.toThrow(/single sign-on is disabled/);
  });

  it("ends sessions begun before a login policy change, except its author's", async () => {
    const s = sessions();
    const author = await s.signIn(identity("author"));
    const other = await s.signIn(identity("other"));
    advance(5);
    policyChange = { at: now, by: `user:${author.session.id}` };
    try {
      await expect(s.authenticate(author.secret)).resolves.toBeTruthy();
      await expect(s.authenticate(other.secret)).rejects.toThrow(
        /login policies changed/,
      );
      const after = await s.signIn(identity("other"));
      await expect(s.authenticate(after.secret)).resolves.toBeTruthy();
    } finally {
      policyChange = null;
    }
  });
});
