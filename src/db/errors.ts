/** PostgreSQL's unique_violation (SQLSTATE 23505), optionally on one named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pgError = error as { code?: string; constraint_name?: string } | null
  return pgError?.code === '23505' && (constraint === undefined || pgError.constraint_name === constraint)
}
