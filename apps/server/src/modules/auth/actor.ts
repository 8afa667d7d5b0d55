/**
 * Who did something, as Stackyard records it and as policies and tokens name it. Two
 * encodings exist and each has one formatter and one parser here:
 *
 * - The actor name recorded on runs (`triggered_by`), reviews, stack locks and run
 *   notes: `api::<keyId>` for an API key, the session's name otherwise (a person, a
 *   `vcs/<provider>/<author>` identity, `policy::<id>`). An empty name is a system
 *   trigger. Policies read API keys and system triggers as machines.
 * - The subject of a session token (`sub`): `api_key:<id>` or `user:<id>`.
 */
export type Actor =
  | { kind: "api_key"; id: string }
  | { kind: "named"; name: string }
  | { kind: "system" };

const API_KEY_ACTOR = "api::";

/** The actor a session acts as. */
export function actorOf(session: {
  kind: string;
  id: string;
  name: string;
}): Actor {
  return session.kind === "api_key"
    ? { kind: "api_key", id: session.id }
    : { kind: "named", name: session.name };
}

export function formatActor(actor: Actor): string {
  switch (actor.kind) {
    case "api_key":
      return `${API_KEY_ACTOR}${actor.id}`;
    case "named":
      return actor.name;
    case "system":
      return "";
  }
}

export function parseActor(recorded: string | null | undefined): Actor {
  if (!recorded) return { kind: "system" };
  if (recorded.startsWith(API_KEY_ACTOR))
    return { kind: "api_key", id: recorded.slice(API_KEY_ACTOR.length) };
  return { kind: "named", name: recorded };
}

/** Policies' `session.machine`: API keys and system triggers. */
export function isMachineActor(actor: Actor): boolean {
  return actor.kind !== "named";
}

export type TokenSubject = { kind: "api_key" | "user"; id: string };

export function formatSubject(subject: TokenSubject): string {
  return `${subject.kind}:${subject.id}`;
}

/** `api_key:<id>` or `user:<id>`; anything else reads as a user subject. */
export function parseSubject(sub: string): TokenSubject {
  const [kind, ...rest] = sub.split(":");
  return { kind: kind === "api_key" ? "api_key" : "user", id: rest.join(":") };
}
