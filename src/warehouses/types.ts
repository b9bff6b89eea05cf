/** A value as a warehouse driver returns it; the engine canonicalises it before fingerprinting. */
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

export type ConnectionTest = { ok: true; message?: string } | { ok: false; message: string };

export interface StreamOptions {
  /** Rows per yielded batch; memory is bounded by this, not by the model's size. */
  batchSize: number;
  signal?: AbortSignal;
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
  close(): Promise<void>;
}

/** A warehouse failure with the warehouse's own message, safe to show a user. */
export class WarehouseError extends Error {
  override name = 'WarehouseError';
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
