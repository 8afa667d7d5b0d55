import type { ReactNode } from "react";

/** An in-place message: errors are announced to screen readers as they appear. */
export function ErrorNote({
  children,
  id,
}: {
  children: ReactNode;
  id?: string;
}) {
  if (!children) return null;
  return (
    <p className="note note-error" role="alert" id={id}>
      {children}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}
