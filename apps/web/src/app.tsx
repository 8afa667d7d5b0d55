import { useEffect, useState, useSyncExternalStore } from "react";
import { Layout } from "./components/Layout.tsx";
import { ContextPage } from "./features/contexts/ContextPage.tsx";
import { ContextsPage } from "./features/contexts/ContextsPage.tsx";
import { LoginPage } from "./features/auth/LoginPage.tsx";
import { PoliciesPage } from "./features/policies/PoliciesPage.tsx";
import { PolicyPage } from "./features/policies/PolicyPage.tsx";
import { IntegrationsPage } from "./features/vcs/IntegrationsPage.tsx";
import { RunPage } from "./features/runs/RunPage.tsx";
import { CreateStackPage } from "./features/stacks/CreateStackPage.tsx";
import { StackPage } from "./features/stacks/StackPage.tsx";
import { StacksPage } from "./features/stacks/StacksPage.tsx";
import { ApiKeysPage } from "./features/auth/ApiKeysPage.tsx";
import { WorkerPoolsPage } from "./features/workers/WorkerPoolsPage.tsx";
import {
  adoptSsoSession,
  getSession,
  onSessionChange,
} from "./graphql/session.ts";
import {
  Link,
  navigate,
  parseRoute,
  paths,
  useLocation,
} from "./routes/router.tsx";

function useSignedIn(): boolean {
  return useSyncExternalStore(onSessionChange, () => getSession() !== null);
}

export function App() {
  const { pathname, search } = useLocation();
  const route = parseRoute(pathname);
  const signedIn = useSignedIn();
  // Before sending anyone to sign in, ask once whether the browser holds an SSO session.
  const [probed, setProbed] = useState(signedIn);
  useEffect(() => {
    if (probed) return;
    void adoptSsoSession().finally(() => setProbed(true));
  }, [probed]);
  const needsLogin = probed && route.name !== "login" && !signedIn;

  useEffect(() => {
    if (needsLogin)
      navigate(
        `${paths.login()}?next=${encodeURIComponent(pathname + search)}`,
        { replace: true },
      );
  }, [needsLogin, pathname, search]);

  useEffect(() => {
    document.title = `${TITLES[route.name]} · Stackyard`;
  }, [route.name]);

  if (route.name === "login") return <LoginPage search={search} />;
  if (needsLogin || !signedIn) return null;

  switch (route.name) {
    case "stacks":
      return (
        <Layout section="stacks">
          <StacksPage />
        </Layout>
      );
    case "newStack":
      return (
        <Layout section="stacks">
          <CreateStackPage />
        </Layout>
      );
    case "stack":
      return (
        <Layout section="stacks">
          <StackPage key={route.stackId} stackId={route.stackId} />
        </Layout>
      );
    case "run":
      return (
        <Layout section="stacks">
          <RunPage
            key={`${route.stackId}/${route.runId}`}
            stackId={route.stackId}
            runId={route.runId}
          />
        </Layout>
      );
    case "workerPools":
      return (
        <Layout section="workerPools">
          <WorkerPoolsPage />
        </Layout>
      );
    case "contexts":
      return (
        <Layout section="contexts">
          <ContextsPage />
        </Layout>
      );
    case "context":
      return (
        <Layout section="contexts">
          <ContextPage key={route.contextId} contextId={route.contextId} />
        </Layout>
      );
    case "policies":
      return (
        <Layout section="policies">
          <PoliciesPage />
        </Layout>
      );
    case "policy":
      return (
        <Layout section="policies">
          <PolicyPage key={route.policyId} policyId={route.policyId} />
        </Layout>
      );
    case "integrations":
      return (
        <Layout section="integrations">
          <IntegrationsPage />
        </Layout>
      );
    case "apiKeys":
      return (
        <Layout section="apiKeys">
          <ApiKeysPage />
        </Layout>
      );
    case "notFound":
      return (
        <Layout section={null}>
          <h1>Page not found</h1>
          <p>
            There is nothing at <code>{route.path}</code>.{" "}
            <Link to={paths.stacks()}>Go to the stacks</Link>.
          </p>
        </Layout>
      );
  }
}

const TITLES: Record<ReturnType<typeof parseRoute>["name"], string> = {
  login: "Sign in",
  stacks: "Stacks",
  newStack: "New stack",
  stack: "Stack",
  run: "Run",
  workerPools: "Worker pools",
  contexts: "Contexts",
  context: "Context",
  policies: "Policies",
  policy: "Policy",
  integrations: "VCS integrations",
  apiKeys: "API keys",
  notFound: "Not found",
};
