/**
 * A value as a warehouse driver returns it; the engine canonicalises it before fingerprinting. Every
 * driver maps its types onto the same JavaScript values, so a model moved between warehouses
 * fingerprints the same:
 *
 * | warehouse type                                   | value                                        |
 * |--------------------------------------------------|----------------------------------------------|
 * | smallint, integer, real, double (DuckDB: also the unsigned types up to 32 bits) | `number` |
 * | bigint / int8, hugeint, ubigint                  | `bigint` (never rounded through a double)    |
 * | numeric / decimal                                | `string`, exact decimal text, e.g. `'12.50'` |
 * | boolean                                          | `boolean`                                    |
 * | timestamp with time zone                         | `Date` (the instant)                         |
 * | timestamp without time zone                      | `Date`, the wall-clock value read as UTC     |
 * | date                                             | `string` `'YYYY-MM-DD'` (no time zone to misapply) |
 * | json / jsonb (Postgres)                          | the parsed JSON value                        |
 * | bytea / blob                                     | `Uint8Array`                                 |
 * | arrays / lists                                   | arrays of the element's value                |
 * | DuckDB struct                                    | object; DuckDB map: object keyed by the key's text |
 * | text, uuid, enum, time, interval, and any other  | `string`, the warehouse's own text form      |
 * | SQL NULL                                         | `null`                                       |
 *
 * Timestamps keep millisecond precision (a `Date`'s). Timestamps a `Date` cannot hold (`infinity`,
 * years BC) stay as the warehouse's text.
 */
export type WarehouseValue =
  | string
  | number
  | bigint
  | boolean
  | Date
  | null
  | Uint8Array
  | WarehouseValue[]
  | { [key: string]: WarehouseValue };

export type WarehouseRow = Record<string, WarehouseValue>;

export interface ColumnInfo {
  name: string;
  /** The warehouse's own type name, e.g. `integer`, `timestamp with time zone`, `VARCHAR`. */
  type: string;
}

/**
 * The statement timeout of `columns` and `preview` when the caller gives none: they answer a person
 * waiting on a screen, so an unbounded query there is a mistake, not a choice.
 */
export const DEFAULT_INTERACTIVE_TIMEOUT_MS = 60_000;

export type ConnectionTest = { ok: true; message?: string } | { ok: false; message: string };

export interface StreamOptions {
  /** Rows per yielded batch; memory is bounded by this, not by the model's size. */
  batchSize: number;
  /** Aborting stops the query on the warehouse and frees its connection; the stream throws the reason. */
  signal?: AbortSignal;
  /**
   * Bounds the whole stream, from the query's start to its last row, including the time the consumer
   * spends between batches (Postgres times a cursor's statement until the cursor closes). 0 disables
   * it. On expiry the stream throws a `WarehouseError` saying `canceling statement due to statement
   * timeout`.
   */
  statementTimeoutMs: number;
}

/**
 * A connected source warehouse. Model SQL runs read-only with a statement timeout (invariant 9), and
 * results are streamed, never loaded whole.
 */
export interface Warehouse {
  test(): Promise<ConnectionTest>;
  /** Column names and types of a query's result, without reading its rows. */
  columns(sql: string, options?: { statementTimeoutMs?: number }): Promise<ColumnInfo[]>;
  preview(
    sql: string,
    limit: number,
    options?: { statementTimeoutMs?: number },
  ): Promise<{
    columns: ColumnInfo[];
    rows: WarehouseRow[];
  }>;
  /** Streams the query's rows in batches, read-only. Errors carry the warehouse's own message. */
  stream(sql: string, options: StreamOptions): AsyncIterable<WarehouseRow[]>;
  /**
   * The same rows as `stream`, as the warehouse's own text, for a warehouse that can send it cheaper
   * than values (Postgres: COPY text instead of a cursor's parsed rows). Optional; the planner uses it
   * when present. Each field parses, with its column's `parse`, to exactly the value `stream` gives.
   * Resolves null when this particular server cannot (a Redshift cluster has no COPY TO STDOUT).
   */
  streamText?(sql: string, options: StreamOptions): Promise<AsyncIterable<TextBatch> | null>;
  close(): Promise<void>;
}

/**
 * What a column's text is, so the planner can canonicalise it without building the value first:
 * `string` text is the value itself; `integer` is a decimal that fits a double; `bigint` a decimal
 * integer of any size; `boolean` is `t` or `f`; `timestamp` is ISO text (`2024-01-02 03:04:05.678+00`,
 * the offset `+00` or absent) that `parse` reads as that instant; `other` must go through `parse`.
 */
export type TextKind = 'string' | 'integer' | 'bigint' | 'boolean' | 'timestamp' | 'other';

export interface TextColumn {
  name: string;
  kind: TextKind;
  parse(text: string): WarehouseValue;
}

/** A batch of rows as text: `fields` holds `count` rows of `columns.length` fields, row after row. */
export interface TextBatch {
  columns: readonly TextColumn[];
  count: number;
  /** null is SQL NULL. */
  fields: (string | null)[];
}

/** Postgres's SQLSTATE for a cancelled query (`query_canceled`); DuckDB timeouts use it too. */
export const STATEMENT_TIMEOUT_CODE = '57014';

/** A warehouse failure with the warehouse's own message, safe to show a user. */
export class WarehouseError extends Error {
  override name = 'WarehouseError';
  /**
   * The warehouse's own error code when it has one (a Postgres SQLSTATE such as `22012`). A statement
   * timeout carries `STATEMENT_TIMEOUT_CODE` from every driver, so callers can tell it apart.
   */
  readonly code: string | undefined;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code;
  }
}

/**
 * A warehouse kind. `configSchema` validates what a user sends for a source; the keys in
 * `secretFields` are encrypted at rest and redacted in responses (see src/secrets/split.ts).
 */
export interface WarehouseDriver<Config = unknown> {
  kind: string;
  label: string;
  configSchema: import('zod').ZodType<Config>;
  secretFields: readonly string[];
  open(config: Config): Promise<Warehouse>;
}
