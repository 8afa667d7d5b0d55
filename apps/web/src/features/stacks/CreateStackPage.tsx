import { useRef, useState, type FormEvent } from "react";
import { STACK_CREATE } from "@stackyard/api-client";
import { ErrorNote } from "../../components/Notice.tsx";
import { useMutation } from "../../graphql/api.ts";
import { Link, navigate, paths } from "../../routes/router.tsx";
import {
  fieldOfServerError,
  validateBranch,
  validateName,
  validateProjectRoot,
  validateRepository,
  validateStackForm,
  type StackForm,
  type StackFormErrors,
} from "./stack-validation.ts";

const FIELD_CHECKS = {
  name: validateName,
  repository: validateRepository,
  branch: validateBranch,
  projectRoot: validateProjectRoot,
} as const;
type TextField = keyof typeof FIELD_CHECKS;

/** Create a stack: every field is checked as you leave it and again on submit. */
export function CreateStackPage() {
  const [form, setForm] = useState<StackForm>({
    name: "",
    repository: "",
    branch: "main",
    projectRoot: "",
    autodeploy: false,
    tool: "OPEN_TOFU",
  });
  const [errors, setErrors] = useState<StackFormErrors>({});
  const create = useMutation(STACK_CREATE);
  const refs = useRef<Partial<Record<TextField, HTMLInputElement | null>>>({});

  function set<K extends keyof StackForm>(key: K, value: StackForm[K]) {
    setForm((f) => ({ ...f, [key]: value }));
    // Clear a field's error as soon as it is fixed (but do not nag while typing).
    if (key in FIELD_CHECKS && errors[key]) {
      const error = FIELD_CHECKS[key as TextField](value as string);
      setErrors((e) => ({ ...e, [key]: error }));
    }
  }

  function blur(key: TextField) {
    const error = FIELD_CHECKS[key](form[key]);
    setErrors((e) => ({ ...e, [key]: error }));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found = validateStackForm(form);
    setErrors(found);
    const firstBad = (Object.keys(FIELD_CHECKS) as TextField[]).find(
      (k) => found[k],
    );
    if (firstBad) {
      refs.current[firstBad]?.focus();
      return;
    }
    const result = await create.mutate({
      manageState: true,
      input: {
        name: form.name.trim(),
        repository: form.repository.trim(),
        branch: form.branch.trim(),
        projectRoot: form.projectRoot.trim().replace(/\/+$/, "") || null,
        autodeploy: form.autodeploy,
        autoretry: false,
        administrative: false,
        provider: "GIT",
        workerPool: null,
        vendorConfig: {
          terraform: {
            workflowTool: form.tool,
            version: null,
            workspace: null,
          },
        },
      },
    });
    if (result) navigate(paths.stack(result.stackCreate.id));
  }

  // A server-side refusal that names a field is shown on that field.
  const serverField = create.error ? fieldOfServerError(create.error) : null;
  const fieldError = (k: TextField) =>
    errors[k] ?? (serverField === k ? create.error : undefined);

  function textField(
    key: TextField,
    label: string,
    help: string,
    extra: { placeholder?: string; required?: boolean } = {},
  ) {
    const error = fieldError(key);
    return (
      <div className="field">
        <label htmlFor={`stack-${key}`}>
          {label}
          {extra.required === false && (
            <span className="muted"> (optional)</span>
          )}
        </label>
        <input
          id={`stack-${key}`}
          name={key}
          ref={(el) => {
            refs.current[key] = el;
          }}
          value={form[key]}
          placeholder={extra.placeholder}
          spellCheck={false}
          autoComplete="off"
          aria-invalid={error ? true : undefined}
          aria-describedby={`stack-${key}-help${error ? ` stack-${key}-error` : ""}`}
          onChange={(e) => set(key, e.target.value)}
          onBlur={(e) => {
            // Leaving the field for the submit button: submit checks every field, and an
            // error line appearing now would move the button away from the click.
            const to = e.relatedTarget as HTMLButtonElement | null;
            if (to?.type !== "submit") blur(key);
          }}
        />
        <p className="hint" id={`stack-${key}-help`}>
          {help}
        </p>
        {error && (
          <p className="field-error" id={`stack-${key}-error`}>
            {error}
          </p>
        )}
      </div>
    );
  }

  return (
    <>
      <p className="crumbs">
        <Link to={paths.stacks()}>Stacks</Link> / New stack
      </p>
      <h1>New stack</h1>
      <form className="form-card" onSubmit={submit} noValidate>
        {textField(
          "name",
          "Name",
          "Shown everywhere; the stack id is made from it (e.g. “Prod network” → prod-network).",
          { placeholder: "Prod network" },
        )}
        {textField(
          "repository",
          "Repository",
          "Any git URL the server can clone, or a path to a repository on the server.",
          { placeholder: "https://github.com/acme/infra.git" },
        )}
        {textField("branch", "Branch", "The branch whose commits are run.", {
          placeholder: "main",
        })}
        {textField(
          "projectRoot",
          "Project root",
          "The directory with the .tf files, relative to the repository root. Empty means the root.",
          { placeholder: "envs/prod", required: false },
        )}
        <div className="field">
          <label htmlFor="stack-tool">Tool</label>
          <select
            id="stack-tool"
            value={form.tool}
            onChange={(e) => set("tool", e.target.value as StackForm["tool"])}
          >
            <option value="OPEN_TOFU">OpenTofu</option>
            <option value="TERRAFORM_FOSS">Terraform (FOSS)</option>
          </select>
        </div>
        <div className="field checkbox">
          <input
            id="stack-autodeploy"
            type="checkbox"
            checked={form.autodeploy}
            onChange={(e) => set("autodeploy", e.target.checked)}
            aria-describedby="stack-autodeploy-help"
          />
          <label htmlFor="stack-autodeploy">Autodeploy</label>
          <p className="hint" id="stack-autodeploy-help">
            Apply without waiting for a confirmation when the plan succeeds.
          </p>
        </div>
        {create.error && !serverField && <ErrorNote>{create.error}</ErrorNote>}
        <div className="actions">
          <button
            className="button primary"
            type="submit"
            disabled={create.pending}
          >
            {create.pending ? "Creating stack…" : "Create stack"}
          </button>
          <Link className="button ghost" to={paths.stacks()}>
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}
