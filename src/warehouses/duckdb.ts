import { type DuckDBConnection, type DuckDBPreparedStatement, StatementType } from '@duckdb/node-api';
import { z } from 'zod';
import { createInstance, explainAccess, type Sandbox } from './duckdb-sandbox.ts';
import { columnConverter } from './duckdb-values.ts';
import {
  type ColumnInfo,
  DEFAULT_INTERACTIVE_TIMEOUT_MS,
  STATEMENT_TIMEOUT_CODE,
  type StreamOptions,
  type Warehouse,
  type WarehouseDriver,
  WarehouseError,
  type WarehouseRow,
} from './types.ts';

export const duckdbConfigSchema = z
  .object({
    database: z.string().min(1).optional(),
    directory: z.string().min(1).optional(),
  })
  .strict();

export type DuckdbConfig = z.output<typeof duckdbConfigSchema>;

function toWarehouseError(error: unknown): WarehouseError {
  if (error instanceof WarehouseError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new WarehouseError(message || 'DuckDB failed', { cause: error });
}

/**
 * Model SQL must be one SELECT. DuckDB parses and binds it without running it, so INSERT, CREATE,
 * COPY ... TO, ATTACH, INSTALL/LOAD, SET, PRAGMA and extra statements are refused before any effect.
 * (A data-modifying WITH does not parse in DuckDB at all.)
 */
async function prepareModel(connection: DuckDBConnection, sql: string): Promise<DuckDBPreparedStatement> {
  if (sql.trim() === '') throw new WarehouseError('the model SQL is empty');
  const extracted = await connection.extractStatements(sql);
  if (extracted.count !== 1) {
    throw new WarehouseError(
      `the model SQL must be exactly one SELECT statement; it has ${extracted.count} statements`,
    );
  }
  const prepared = await extracted.prepare(0);
  if (prepared.statementType !== StatementType.SELECT) {
    const kind = StatementType[prepared.statementType] ?? 'unknown';
    prepared.destroySync();
    throw new WarehouseError(
      `the model SQL must be a SELECT query; a ${kind} statement is refused because models are read-only`,
    );
  }
  return prepared;
}

function checkUniqueNames(names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new WarehouseError(`the query returns two columns named "${name}"; give one an alias`);
    }
    seen.add(name);
  }
}

/**
 * Opens an embedded DuckDB. The `database` file is opened read-only (relative to `directory` when
 * both are given); the data files in `directory` are readable as views named after them.
 */
export function openDuckdb(config: DuckdbConfig): Warehouse {
  // The instance opens on first use, like a Postgres pool connects on first query: a missing or
  // corrupt file then shows up in `test()` with DuckDB's own words rather than as a failed open.
  let opening: Promise<Sandbox> | undefined;
  const instanceFor = () => {
    opening ??= createInstance(config).catch((error: unknown) => {
      opening = undefined;
      throw toWarehouseError(error);
    });
    return opening;
  };

  const connections = new Set<DuckDBConnection>();
  let closed = false;

  /**
   * One connection per operation, so one operation's interrupt (timeout, abort) cannot touch another.
   * The timer interrupts the running query; DuckDB then fails it with "Interrupted!", which is
   * reported as a timeout in the same words Postgres uses.
   */
  async function* withConnection<T>(
    statementTimeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    fn: (connection: DuckDBConnection, interrupted: () => boolean) => AsyncGenerator<T>,
  ): AsyncGenerator<T> {
    if (closed) throw new WarehouseError('the DuckDB warehouse is closed');
    signal?.throwIfAborted();
    const { instance, views, directory } = await instanceFor();
    if (closed) throw new WarehouseError('the DuckDB warehouse is closed');
    const connection = await instance.connect();
    connections.add(connection);
    try {
      for (const view of views) await connection.run(view);
    } catch (error) {
      connections.delete(connection);
      connection.closeSync();
      throw explainAccess(toWarehouseError(error), directory);
    }
    let timedOut = false;
    let aborted = false;
    const timeout = Math.max(0, Math.floor(statementTimeoutMs ?? 0));
    const timer =
      timeout > 0
        ? setTimeout(() => {
            timedOut = true;
            connection.interrupt();
          }, timeout)
        : undefined;
    const onAbort = () => {
      aborted = true;
      connection.interrupt();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // An abort while the instance was opening fired no listener; act on it now.
    if (signal?.aborted) onAbort();
    try {
      yield* fn(connection, () => timedOut || aborted || closed);
    } catch (error) {
      if (aborted) signal?.throwIfAborted();
      if (timedOut) {
        throw new WarehouseError(`canceling statement due to statement timeout (${timeout} ms)`, {
          cause: error,
          code: STATEMENT_TIMEOUT_CODE,
        });
      }
      if (closed)
        throw new WarehouseError('the DuckDB warehouse was closed during the query', { cause: error });
      throw explainAccess(toWarehouseError(error), directory);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      connections.delete(connection);
      connection.closeSync();
    }
  }

  const describe = (prepared: DuckDBPreparedStatement): ColumnInfo[] => {
    const columns: ColumnInfo[] = [];
    for (let i = 0; i < prepared.columnCount; i++) {
      const type = prepared.columnType(i);
      // JSON is VARCHAR with an alias; the alias is the name a user wrote and expects back.
      columns.push({ name: prepared.columnName(i), type: type.alias ?? type.toString() });
    }
    checkUniqueNames(columns.map((c) => c.name));
    return columns;
  };

  async function* rows(
    connection: DuckDBConnection,
    interrupted: () => boolean,
    sql: string,
    batchSize: number,
  ) {
    const prepared = await prepareModel(connection, sql);
    try {
      const result = await prepared.stream();
      const names = result.columnNames();
      checkUniqueNames(names);
      const converters = result.columnTypes().map(columnConverter);
      let pending: WarehouseRow[] = [];
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        const columns = chunk.getColumns();
        for (let r = 0; r < chunk.rowCount; r++) {
          const row: WarehouseRow = {};
          for (let c = 0; c < names.length; c++) {
            row[names[c] as string] = (converters[c] as (typeof converters)[number])(columns[c]?.[r] ?? null);
          }
          pending.push(row);
          if (pending.length === batchSize) {
            // Rows already fetched would otherwise still flow after an abort, a timeout or close().
            if (interrupted()) throw new WarehouseError('DuckDB query interrupted');
            yield pending;
            pending = [];
          }
        }
      }
      // DuckDB ends a failed streaming query exactly like a finished one (no chunk either way), and
      // node-api does not expose duckdb_result_error. A failed result reports an INVALID statement
      // type; re-running the statement then yields DuckDB's own message. Without this check a CSV
      // with one bad line deep inside would silently become a shorter model, and a mirror sync would
      // delete the missing records.
      if (result.statementType !== StatementType.SELECT) {
        if (!interrupted()) await prepared.run();
        throw new WarehouseError('DuckDB stopped the query before its end and gave no reason');
      }
      if (pending.length > 0) yield pending;
    } finally {
      prepared.destroySync();
    }
  }

  const firstOf = async <T>(generator: AsyncGenerator<T>, fallback: T): Promise<T> => {
    try {
      const next = await generator.next();
      return next.done ? fallback : next.value;
    } finally {
      await generator.return(undefined);
    }
  };

  const columnsOf = async (sql: string, statementTimeoutMs: number | undefined) =>
    firstOf(
      withConnection(statementTimeoutMs, undefined, async function* (connection) {
        const prepared = await prepareModel(connection, sql);
        try {
          yield describe(prepared);
        } finally {
          prepared.destroySync();
        }
      }),
      [],
    );

  return {
    async test() {
      try {
        const version = await firstOf(
          withConnection(10_000, undefined, async function* (connection) {
            const reader = await connection.runAndReadAll('select version() as version');
            yield String(reader.getRowObjects()[0]?.version ?? '');
          }),
          '',
        );
        return { ok: true, message: `DuckDB ${version}` };
      } catch (error) {
        return { ok: false, message: toWarehouseError(error).message };
      }
    },

    columns(sql, options) {
      return columnsOf(sql, options?.statementTimeoutMs ?? DEFAULT_INTERACTIVE_TIMEOUT_MS);
    },

    async preview(sql, limit, options) {
      if (!Number.isInteger(limit) || limit < 0) {
        throw new WarehouseError(`preview limit must be a whole number, got ${limit}`);
      }
      const timeoutMs = options?.statementTimeoutMs ?? DEFAULT_INTERACTIVE_TIMEOUT_MS;
      const columns = await columnsOf(sql, timeoutMs);
      if (limit === 0) return { columns, rows: [] };
      const batch = await firstOf(
        withConnection(timeoutMs, undefined, (connection, interrupted) =>
          rows(connection, interrupted, sql, limit),
        ),
        [],
      );
      return { columns, rows: batch };
    },

    async *stream(sql, { batchSize, signal, statementTimeoutMs }: StreamOptions) {
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new WarehouseError(`batchSize must be a positive whole number, got ${batchSize}`);
      }
      yield* withConnection(statementTimeoutMs, signal, (connection, interrupted) =>
        rows(connection, interrupted, sql, batchSize),
      );
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const connection of connections) {
        connection.interrupt();
        connection.closeSync();
      }
      connections.clear();
      const sandbox = await opening?.catch(() => undefined);
      sandbox?.instance.closeSync();
    },
  };
}

export const duckdbDriver: WarehouseDriver<DuckdbConfig> = {
  kind: 'duckdb',
  label: 'DuckDB (embedded: a .duckdb file, or CSV and Parquet files in a folder)',
  configSchema: duckdbConfigSchema,
  secretFields: [],
  async open(config) {
    return openDuckdb(config);
  },
};
