import type { ReactNode } from "react";
import { VIEWER } from "@stackyard/api-client";
import { useQuery } from "../graphql/api.ts";
import { clearSession } from "../graphql/session.ts";
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
              clearSession();
              navigate(paths.login(), { replace: true });
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
