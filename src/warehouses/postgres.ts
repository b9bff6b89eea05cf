import pg from 'pg';
import Cursor from 'pg-cursor';
import { z } from 'zod';
import { createTypeParsers } from './postgres-values.ts';
import {
  type ColumnInfo,
  DEFAULT_INTERACTIVE_TIMEOUT_MS,
  type StreamOptions,
  type Warehouse,
  type WarehouseDriver,
  WarehouseError,
  type WarehouseRow,
} from './types.ts';

export const postgresConfigSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\/./, 'must be a URL such as postgres://user:password@host:5432/database')
      .optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    ssl: z.boolean().optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.url !== undefined) {
      if (config.host !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['host'], message: 'give either url or host, not both' });
      }
      return;
    }
    for (const key of ['host', 'database', 'user'] as const) {
      if (config[key] === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `is required when no url is given` });
      }
    }
  });

export type PostgresConfig = z.output<typeof postgresConfigSchema>;

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

function toWarehouseError(error: unknown): WarehouseError {
  if (error instanceof WarehouseError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof pg.DatabaseError ? error.code : undefined;
  return new WarehouseError(message || 'the warehouse connection failed', { cause: error, code });
}

/** Column names must be unique: rows are objects, and a model with two `id` columns is ambiguous. */
function checkUniqueNames(fields: readonly { name: string }[]): void {
  const seen = new Set<string>();
  for (const { name } of fields) {
    if (seen.has(name)) {
      throw new WarehouseError(`the query returns two columns named "${name}"; give one an alias`);
    }
    seen.add(name);
  }
}

/** Statements that open every model transaction; DateStyle ISO is what the timestamp parser reads. */
function beginReadOnly(statementTimeoutMs: number | undefined): string {
  const timeout = Math.max(0, Math.floor(statementTimeoutMs ?? 0));
  return `BEGIN READ ONLY; SET LOCAL statement_timeout = ${timeout}; SET LOCAL DateStyle = 'ISO, MDY'`;
}

// Array types are found by their element type; `_` names and variable length exclude the fixed-size
// and vector types (point, int2vector) whose text is not `{...}`. No typcategory: Redshift lacks it.
const ARRAY_TYPES_SQL = `select oid, typelem from pg_type where typelem <> 0 and typlen = -1 and typname like '\\_%'`;

export function openPostgres(config: PostgresConfig): Warehouse {
  const connection = config.url
    ? { connectionString: config.url }
    : {
        host: config.host,
        port: config.port,
        database: config.database,
        user: config.user,
        password: config.password,
        ssl: config.ssl,
      };
  const pool = new pg.Pool({
    ...connection,
    max: 4,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 15_000,
    application_name: 'ebb',
  });
  // An idle connection the server drops must not crash the process; the pool discards it.
  pool.on('error', () => {});

  let parsers: Promise<ReturnType<typeof createTypeParsers>> | undefined;
  const typeParsers = (client: pg.PoolClient) => {
    parsers ??= client
      .query<{ oid: number; typelem: number }>({
        text: ARRAY_TYPES_SQL,
        types: createTypeParsers(new Map()),
      })
      .then((result) => createTypeParsers(new Map(result.rows.map((r) => [r.oid, r.typelem]))))
      .catch((error: unknown) => {
        parsers = undefined;
        throw error;
      });
    return parsers;
  };

  /**
   * Ends a stream's backend from a separate, short-lived connection (not the pool's, which may be
   * full). Terminate, not cancel: Postgres ignores a cancel that arrives while the backend waits for
   * the cursor's next message, and the connection is being discarded anyway. Best effort: if it
   * fails, closing the stream's connection still ends the query, only later.
   */
  const terminateBackend = async (pid: number): Promise<void> => {
    const killer = new pg.Client({ ...connection, connectionTimeoutMillis: 5_000 });
    killer.on('error', () => {});
    try {
      await killer.connect();
      await killer.query('select pg_terminate_backend($1)', [pid]);
    } finally {
      await killer.end();
    }
  };

  /** Runs `fn` on one connection inside a read-only transaction that is always rolled back. */
  const readOnly = async <T>(
    statementTimeoutMs: number | undefined,
    fn: (client: pg.PoolClient, types: pg.CustomTypesConfig) => Promise<T>,
  ): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw toWarehouseError(error);
    }
    let broken: unknown;
    const onError = (error: unknown) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      const types = await typeParsers(client);
      await client.query(beginReadOnly(statementTimeoutMs));
      const result = await fn(client, types);
      await client.query('ROLLBACK');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      throw toWarehouseError(error);
    } finally {
      client.off('error', onError);
      client.release(broken instanceof Error ? broken : undefined);
    }
  };

  const columnsOf = async (client: pg.PoolClient, fields: readonly pg.FieldDef[]): Promise<ColumnInfo[]> => {
    checkUniqueNames(fields);
    if (fields.length === 0) return [];
    const names = await client.query<{ type: string }>(
      'select format_type(t.oid, nullif(t.mod, -1)) as type from unnest($1::oid[], $2::int4[]) with ordinality as t(oid, mod, n) order by t.n',
      [fields.map((f) => f.dataTypeID), fields.map((f) => f.dataTypeModifier)],
    );
    return fields.map((f, i) => ({ name: f.name, type: names.rows[i]?.type ?? String(f.dataTypeID) }));
  };

  return {
    async test() {
      try {
        const client = await pool.connect();
        let failure: Error | undefined;
        try {
          const result = await client.query<{ version: string }>('select version() as version');
          return { ok: true, message: result.rows[0]?.version };
        } catch (error) {
          failure = error instanceof Error ? error : new Error(String(error));
          throw error;
        } finally {
          // A connection whose query failed is discarded, not handed to the next caller.
          client.release(failure);
        }
      } catch (error) {
        return { ok: false, message: toWarehouseError(error).message };
      }
    },

    columns(sql, options) {
      return readOnly(
        options?.statementTimeoutMs ?? DEFAULT_INTERACTIVE_TIMEOUT_MS,
        async (client, types) => {
          const result = await client.query({ text: modelQuery(sql, ' limit 0'), types });
          return columnsOf(client, result.fields);
        },
      );
    },

    preview(sql, limit, options) {
      if (!Number.isInteger(limit) || limit < 0) {
        return Promise.reject(new WarehouseError(`preview limit must be a whole number, got ${limit}`));
      }
      return readOnly(
        options?.statementTimeoutMs ?? DEFAULT_INTERACTIVE_TIMEOUT_MS,
        async (client, types) => {
          const result = await client.query({ text: modelQuery(sql, ` limit ${limit}`), types });
          const columns = await columnsOf(client, result.fields);
          return { columns, rows: result.rows as WarehouseRow[] };
        },
      );
    },

    stream(sql, options) {
      return streamRows({ pool, typeParsers, terminateBackend }, sql, options);
    },

    async close() {
      await pool.end();
    },
  };
}

interface StreamDeps {
  pool: pg.Pool;
  typeParsers: (client: pg.PoolClient) => Promise<pg.CustomTypesConfig>;
  terminateBackend: (pid: number) => Promise<void>;
}

async function* streamRows(
  { pool, typeParsers, terminateBackend }: StreamDeps,
  sql: string,
  { batchSize, signal, statementTimeoutMs }: StreamOptions,
): AsyncGenerator<WarehouseRow[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new WarehouseError(`batchSize must be a positive whole number, got ${batchSize}`);
  }
  const text = modelQuery(sql);
  signal?.throwIfAborted();
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toWarehouseError(error);
  }
  // Abort ends the query's backend on the server, then closes the connection, which ends a read in
  // flight at once. Closing alone is not enough: a backend busy sorting or joining notices a closed socket only
  // when it next sends a row, and would run on until the statement timeout.
  let destroyed = false;
  let broken: unknown;
  let pid: number | undefined;
  const onAbort = () => {
    destroyed = true;
    const terminated = pid === undefined ? Promise.resolve() : terminateBackend(pid);
    terminated
      .catch((error: unknown) => {
        broken = error;
      })
      .finally(() => client.end())
      .catch((error: unknown) => {
        broken = error;
      });
  };
  const onError = (error: unknown) => {
    broken = error;
  };
  client.on('error', onError);
  signal?.addEventListener('abort', onAbort, { once: true });
  // An abort while the pool was connecting fired no listener; act on it now.
  if (signal?.aborted) onAbort();
  let cursor: Cursor<WarehouseRow> | undefined;
  try {
    const types = await typeParsers(client);
    const backend = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    pid = backend.rows[0]?.pid;
    await client.query(beginReadOnly(statementTimeoutMs));
    cursor = client.query(new Cursor<WarehouseRow>(text, undefined, { types }));
    const open = cursor;
    let first = true;
    for (;;) {
      const rows = await new Promise<WarehouseRow[]>((resolve, reject) => {
        open.read(batchSize, (error, batch, result) => {
          if (error) return reject(error);
          if (first) {
            first = false;
            try {
              checkUniqueNames(result.fields);
            } catch (duplicate) {
              return reject(duplicate);
            }
          }
          resolve(batch);
        });
      });
      // The connection closes only once the backend is terminated; rows read meanwhile are dropped.
      signal?.throwIfAborted();
      if (rows.length > 0) yield rows;
      // A short read means the portal is complete: Postgres suspends only after exactly `batchSize`.
      if (rows.length < batchSize) break;
    }
    await cursor.close();
    cursor = undefined;
    await client.query('ROLLBACK');
  } catch (error) {
    if (destroyed) signal?.throwIfAborted();
    throw toWarehouseError(error);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.off('error', onError);
    // Leaving early (abort, an error, or a consumer that stops iterating) may leave the cursor or the
    // transaction open; the connection is then discarded rather than returned to the pool half-used.
    const dirty = destroyed || broken !== undefined || cursor !== undefined;
    client.release(dirty ? new Error('warehouse stream ended early') : undefined);
  }
}

export const postgresDriver: WarehouseDriver<PostgresConfig> = {
  kind: 'postgres',
  label: 'PostgreSQL (and Redshift-compatible warehouses)',
  configSchema: postgresConfigSchema,
  secretFields: ['url', 'password'],
  async open(config) {
    return openPostgres(config);
  },
};
