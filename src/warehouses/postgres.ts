import pg from 'pg';
import { z } from 'zod';
import { beginReadOnly, checkUniqueNames, modelQuery, toWarehouseError } from './postgres-sql.ts';
import { streamCopyText, streamRows } from './postgres-stream.ts';
import { createTypeParsers } from './postgres-values.ts';
import {
  type ColumnInfo,
  DEFAULT_INTERACTIVE_TIMEOUT_MS,
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

  /** Whether the server has COPY TO STDOUT: Postgres does, Redshift (same wire protocol) does not. */
  let copyText: Promise<boolean> | undefined;
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

    async streamText(sql, options) {
      copyText ??= pool
        .query<{ version: string }>('select version() as version')
        .then((result) => !/redshift/i.test(result.rows[0]?.version ?? ''))
        .catch((error: unknown) => {
          copyText = undefined;
          throw toWarehouseError(error);
        });
      if (!(await copyText)) return null;
      return streamCopyText({ pool, typeParsers, terminateBackend }, sql, options);
    },

    async close() {
      await pool.end();
    },
  };
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
