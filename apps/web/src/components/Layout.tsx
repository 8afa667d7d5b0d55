import type { ReactNode } from "react";
import { VIEWER, WORKER_POOLS } from "@stackyard/api-client";
import { unsandboxedWorkers } from "../features/workers/run-isolation.ts";
import { useQuery } from "../graphql/api.ts";
import { signOut } from "../graphql/session.ts";
import { Link, navigate, paths } from "../routes/router.tsx";
import { useTheme, type ThemeChoice } from "./theme.ts";

const NEXT_THEME: Record<ThemeChoice, ThemeChoice> = {
  system: "light",
  light: "dark",
  dark: "system",
};

export function ThemeToggle() {
  const [theme, setTheme] = useTheme();
  return (
    <button
      type="button"
      className="button ghost"
      onClick={() => setTheme(NEXT_THEME[theme])}
      title="Switch between the system, light and dark themes"
    >
      Theme: {theme}
    </button>
  );
}

/** The frame of every signed-in page: skip link, navigation, theme, sign out. */
export function Layout({
  section,
  children,
}: {
  section:
    | "stacks"
    | "contexts"
    | "workerPools"
    | "policies"
    | "integrations"
    | "apiKeys"
    | null;
  children: ReactNode;
}) {
  const viewer = useQuery(VIEWER);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to={paths.stacks()} className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Stackyard
        </Link>
        <nav aria-label="Main">
          <Link
            to={paths.stacks()}
            aria-current={section === "stacks" ? "page" : undefined}
          >
            Stacks
          </Link>
          <Link
            to={paths.contexts()}
            aria-current={section === "contexts" ? "page" : undefined}
          >
            Contexts
          </Link>
          <Link
            to={paths.workerPools()}
            aria-current={section === "workerPools" ? "page" : undefined}
          >
            Worker pools
          </Link>
          <Link
            to={paths.policies()}
            aria-current={section === "policies" ? "page" : undefined}
          >
            Policies
          </Link>
          <Link
            to={paths.integrations()}
            aria-current={section === "integrations" ? "page" : undefined}
          >
            VCS
          </Link>
          <Link
            to={paths.apiKeys()}
            aria-current={section === "apiKeys" ? "page" : undefined}
          >
            API keys
          </Link>
        </nav>
        <div className="topbar-end">
          {viewer.data?.viewer && (
            <span className="viewer" title={viewer.data.viewer.id}>
              {viewer.data.viewer.name}
            </span>
          )}
          <ThemeToggle />
          <button
            type="button"
            className="button ghost"
            onClick={() => {
              void signOut().then(() =>
                navigate(paths.login(), { replace: true }),
              );
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <RunIsolationBanner />
        {children}
      </main>
    </>
  );
}

/**
 * Says so on every page while a live worker runs without a sandbox: its runs either
 * fail, or can read whatever its launcher can. Quiet for callers who cannot list pools.
 */
function RunIsolationBanner() {
  const pools = useQuery(WORKER_POOLS, undefined, { pollMs: 30_000 });
  const workers = unsandboxedWorkers(pools.data?.workerPools ?? []);
  if (workers.length === 0) return null;
  const refused = workers.filter((w) => !w.runsAllowed);
  const allowed = workers.filter((w) => w.runsAllowed);
  const names = (list: typeof workers) =>
    list.map((w) => `${w.poolName}/${w.workerId}`).join(", ");
  return (
    <p className="note note-attention" role="status">
      <strong>Runs are not sandboxed.</strong>{" "}
      {refused.length > 0 &&
        `Workers without bubblewrap refuse every run: ${names(refused)}. `}
      {allowed.length > 0 &&
        `Workers running runs without isolation (STACKYARD_UNSANDBOXED_RUNS=true), so hooks and providers can read their host's secrets: ${names(allowed)}. `}
      Install bubblewrap on the worker hosts (scripts/setup.sh does for{" "}
      <code>stackyard up</code>).
    </p>
  );
}
