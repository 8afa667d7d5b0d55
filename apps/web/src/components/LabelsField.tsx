import type { ReactNode, Ref } from "react";

/**
 * The comma-separated labels input of the create/edit forms, with its hint and its
 * error in place (ids `<idPrefix>-labels`, `-labels-hint`, `-labels-error`).
 */
export function LabelsField({
  idPrefix,
  value,
  onChange,
  error,
  hint,
  inputRef,
}: {
  idPrefix: string;
  value: string;
  onChange(value: string): void;
  error: string | undefined;
  hint: ReactNode;
  inputRef?: Ref<HTMLInputElement>;
}) {
  return (
    <div className="field">
      <label htmlFor={`${idPrefix}-labels`}>Labels (optional)</label>
      <input
        id={`${idPrefix}-labels`}
        ref={inputRef}
        className="mono"
        value={value}
        autoComplete="off"
        spellCheck={false}
        placeholder="team:infra, autoattach:prod"
        aria-invalid={error ? true : undefined}
        aria-describedby={`${idPrefix}-labels-hint${error ? ` ${idPrefix}-labels-error` : ""}`}
        onChange={(e) => onChange(e.target.value)}
      />
      <p className="hint" id={`${idPrefix}-labels-hint`}>
        {hint}
      </p>
      {error && (
        <p className="field-error" id={`${idPrefix}-labels-error`}>
          {error}
        </p>
      )}
    </div>
  );
}
