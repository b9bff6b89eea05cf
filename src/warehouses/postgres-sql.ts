import pg from 'pg';
import { WarehouseError } from './types.ts';

/** Wraps model SQL so only a query expression is accepted: see `modelQuery`. */
const MODEL_ALIAS = 'ebb_model';

/**
 * The model as a subquery. Postgres accepts only a query expression there, so INSERT, DROP, COPY,
 * several statements, or a data-modifying WITH are syntax errors before anything runs; the read-only
 * transaction is the second guard (a function that writes still fails). The newlines keep a trailing
 * `-- comment` in the model from swallowing the closing parenthesis.
 */
export function modelQuery(sql: string, suffix = ''): string {
  // A model pasted from a SQL editor often ends in `;` and a comment; the subquery cannot hold either.
  const body = sql.replace(/;(\s|--[^\n]*(\n|$))*$/, '').trim();
  if (body === '') throw new WarehouseError('the model SQL is empty');
  return `select * from (\n${body}\n) as ${MODEL_ALIAS}${suffix}`;
}

export function toWarehouseError(error: unknown): WarehouseError {
  if (error instanceof WarehouseError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof pg.DatabaseError ? error.code : undefined;
  return new WarehouseError(message || 'the warehouse connection failed', { cause: error, code });
}

/** Column names must be unique: rows are objects, and a model with two `id` columns is ambiguous. */
export function checkUniqueNames(fields: readonly { name: string }[]): void {
  const seen = new Set<string>();
  for (const { name } of fields) {
    if (seen.has(name)) {
      throw new WarehouseError(`the query returns two columns named "${name}"; give one an alias`);
    }
    seen.add(name);
  }
}

/** Statements that open every model transaction; DateStyle ISO is what the timestamp parser reads. */
export function beginReadOnly(statementTimeoutMs: number | undefined): string {
  const timeout = Math.max(0, Math.floor(statementTimeoutMs ?? 0));
  // The session's TimeZone is left alone: a model's current_date or to_char must mean what it means in
  // the user's SQL editor. Timestamps read the same in any zone (parsed with their offset); only the
  // planner's shortcut for UTC text (+00, the usual server setting) is skipped elsewhere.
  return `BEGIN READ ONLY; SET LOCAL statement_timeout = ${timeout}; SET LOCAL DateStyle = 'ISO, MDY'`;
}
