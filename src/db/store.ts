import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type * as schema from './schema/index.ts';

/** The drizzle database, the same type over `pg` and PGlite. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export type SqlParam =
  | string
  | number
  | bigint
  | boolean
  | Date
  | null
  | Buffer
  | unknown[]
  | Record<string, unknown>;

/** Raw SQL for the engine's set work (staging, diffs, claims), where drizzle's builder adds nothing. */
export interface Queryable {
  query<Row = Record<string, unknown>>(text: string, params?: readonly SqlParam[]): Promise<Row[]>;
  /** Like `query`, but returns the number of rows the statement touched. */
  execute(text: string, params?: readonly SqlParam[]): Promise<number>;
}

/**
 * Ebb's state store: Postgres through `pg` when DATABASE_URL is set, otherwise embedded PGlite. One
 * schema and one code path; the only difference is below this interface (pool vs. single connection,
 * COPY from a stream vs. COPY from a blob).
 */
export interface Store extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Db;
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Bulk-loads rows into `table` with COPY in text format. Each yielded string is a chunk of complete
   * COPY text lines (tab-separated, `\N` for null, newline-terminated); see `copyLine`.
   */
  copyIn(table: string, columns: readonly string[], chunks: AsyncIterable<string>): Promise<void>;
  /** Applies pending migrations; returns how many it applied (0 when the schema is current). */
  migrate(): Promise<number>;
  close(): Promise<void>;
}

/** Escapes one value for COPY text format. */
export function copyValue(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/** One COPY text line, newline included. */
export function copyLine(values: readonly (string | null)[]): string {
  return `${values.map(copyValue).join('\t')}\n`;
}

/** Quotes an identifier built by Ebb itself (staging table names); never user input. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}
