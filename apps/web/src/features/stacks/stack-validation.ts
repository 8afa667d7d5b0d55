/**
 * Checks of the create-stack form, run before anything is sent so each problem shows
 * next to its field in words. The server checks again; its answers are mapped back
 * to fields with `fieldOfServerError`.
 */
export interface StackForm {
  name: string;
  repository: string;
  branch: string;
  projectRoot: string;
  autodeploy: boolean;
  tool: "OPEN_TOFU" | "TERRAFORM_FOSS";
}

export type StackFormErrors = Partial<Record<keyof StackForm, string>>;

export function validateName(name: string): string | undefined {
  const n = name.trim();
  if (!n) return "Give the stack a name.";
  if (n.length > 100) return "Keep the name under 100 characters.";
  if (!/[a-z0-9]/i.test(n))
    return "The name needs at least one letter or digit (its id is made from them).";
  return undefined;
}

export function validateRepository(repo: string): string | undefined {
  const r = repo.trim();
  if (!r)
    return "Enter the git repository: a URL (https://…, ssh://…, git@host:path) or a local path on the server.";
  if (/\s/.test(r)) return "A repository address cannot contain spaces.";
  const url = /^(https?|ssh|git|file):\/\/[^/]+|^file:\/\//i.test(r);
  const scp = /^[\w.-]+@[\w.-]+:.+/.test(r);
  const local = r.startsWith("/");
  if (!url && !scp && !local)
    return "That does not look like a repository address. Use https://…, ssh://…, git@host:path, file://… or an absolute path such as /srv/git/infra.";
  return undefined;
}

/** A branch name as git accepts it (`git check-ref-format --branch`, simplified). */
export function validateBranch(branch: string): string | undefined {
  const b = branch.trim();
  if (!b) return "Enter the branch to track, for example main.";
  if (/\s/.test(b)) return "A branch name cannot contain spaces.";
  if (
    b.startsWith("-") ||
    b.startsWith("/") ||
    b.endsWith("/") ||
    b.endsWith(".") ||
    b.endsWith(".lock") ||
    b.includes("..") ||
    b.includes("//") ||
    b.includes("@{") ||
    // eslint-disable-next-line no-control-regex
    /[~^:?*[\\\x00-\x1f\x7f]/.test(b)
  )
    return "That is not a valid git branch name.";
  return undefined;
}

export function validateProjectRoot(root: string): string | undefined {
  const r = root.trim();
  if (!r) return undefined;
  if (r.startsWith("/"))
    return "The project root is relative to the repository root; remove the leading /.";
  if (r.split("/").some((p) => p === ".."))
    return "The project root must stay inside the repository (no ..).";
  return undefined;
}

export function validateStackForm(form: StackForm): StackFormErrors {
  const errors: StackFormErrors = {};
  const checks: Array<[keyof StackForm, string | undefined]> = [
    ["name", validateName(form.name)],
    ["repository", validateRepository(form.repository)],
    ["branch", validateBranch(form.branch)],
    ["projectRoot", validateProjectRoot(form.projectRoot)],
  ];
  for (const [field, error] of checks) if (error) errors[field] = error;
  return errors;
}

/** "stackCreate input.branch: must not be empty" → "branch" (when it names a form field). */
export function fieldOfServerError(message: string): keyof StackForm | null {
  const m = /input\.(\w+)/.exec(message);
  const f = m?.[1];
  return f === "name" ||
    f === "repository" ||
    f === "branch" ||
    f === "projectRoot"
    ? f
    : null;
}
