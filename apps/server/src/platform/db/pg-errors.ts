/** PostgreSQL's foreign_key_violation (23503), optionally of one named constraint. */
export function isForeignKeyViolation(
  err: unknown,
  constraint?: string,
): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return (
    e?.code === "23503" &&
    (constraint === undefined || e.constraint === constraint)
  );
}
