import {
  useSyncExternalStore,
  type AnchorHTMLAttributes,
  type MouseEvent,
} from "react";

/**
 * A small History-API router: real paths (the server answers every UI path with
 * index.html), links that are real <a href> elements, and no dependency.
 */
export type Route =
  | { name: "login" }
  | { name: "stacks" }
  | { name: "newStack" }
  | { name: "stack"; stackId: string }
  | { name: "run"; stackId: string; runId: string }
  | { name: "workerPools" }
  | { name: "contexts" }
  | { name: "context"; contextId: string }
  | { name: "policies" }
  | { name: "policy"; policyId: string }
  | { name: "integrations" }
  | { name: "apiKeys" }
  | { name: "notFound"; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname
    .split("/")
    .filter(Boolean)
    .map((p) => decodeURIComponent(p));
  const [a, b, c, d] = parts;
  if (parts.length === 0) return { name: "stacks" };
  if ((a === "login" || a === "apikeytoken") && parts.length === 1)
    return { name: "login" };
  if (a === "stacks" && parts.length === 1) return { name: "stacks" };
  if (a === "stacks" && b === "new" && parts.length === 2)
    return { name: "newStack" };
  if (a === "stack" && b && parts.length === 2)
    return { name: "stack", stackId: b };
  if (a === "stack" && b && c === "run" && d && parts.length === 4)
    return { name: "run", stackId: b, runId: d };
  if (a === "worker-pools" && parts.length === 1)
    return { name: "workerPools" };
  if (a === "contexts" && parts.length === 1) return { name: "contexts" };
  if (a === "context" && b && parts.length === 2)
    return { name: "context", contextId: b };
  // Policies and VCS integrations.
  if (a === "policies" && parts.length === 1) return { name: "policies" };
  if (a === "policy" && b && parts.length === 2)
    return { name: "policy", policyId: b };
  if (a === "vcs-integrations" && parts.length === 1)
    return { name: "integrations" };
  if (a === "api-keys" && parts.length === 1) return { name: "apiKeys" };
  return { name: "notFound", path: pathname };
}

export const paths = {
  stacks: () => "/stacks",
  newStack: () => "/stacks/new",
  stack: (id: string) => `/stack/${encodeURIComponent(id)}`,
  run: (stackId: string, runId: string) =>
    `/stack/${encodeURIComponent(stackId)}/run/${encodeURIComponent(runId)}`,
  workerPools: () => "/worker-pools",
  contexts: () => "/contexts",
  context: (id: string) => `/context/${encodeURIComponent(id)}`,
  login: () => "/login",
  policies: () => "/policies",
  policy: (id: string) => `/policy/${encodeURIComponent(id)}`,
  integrations: () => "/vcs-integrations",
  apiKeys: () => "/api-keys",
};

const CHANGE = "stackyard:navigate";

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
  if (!opts.replace) window.scrollTo(0, 0);
}

function subscribe(cb: () => void): () => void {
  window.addEventListener("popstate", cb);
  window.addEventListener(CHANGE, cb);
  return () => {
    window.removeEventListener("popstate", cb);
    window.removeEventListener(CHANGE, cb);
  };
}

/** The current path plus query string; re-renders on every navigation. */
export function useLocation(): { pathname: string; search: string } {
  const href = useSyncExternalStore(
    subscribe,
    () => window.location.pathname + window.location.search,
  );
  const url = new URL(href, window.location.origin);
  return { pathname: url.pathname, search: url.search };
}

export function Link({
  to,
  onClick,
  ...rest
}: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  function handle(e: MouseEvent<HTMLAnchorElement>) {
    onClick?.(e);
    if (
      e.defaultPrevented ||
      e.button !== 0 ||
      e.metaKey ||
      e.ctrlKey ||
      e.shiftKey ||
      e.altKey
    )
      return;
    e.preventDefault();
    navigate(to);
  }
  return <a href={to} onClick={handle} {...rest} />;
}
