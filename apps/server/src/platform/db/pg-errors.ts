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

/** PostgreSQL's unique_violation (23505), optionally of one named constraint or index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return (
    e?.code === "23505" &&
    (constraint === undefined || e.constraint === constraint)
  );
}
