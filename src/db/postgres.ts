import { once } from 'node:events';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { nodePostgres, nodePostgresMigrator } from './drizzle.ts';
import { appliedMigrations, migrationsFolder } from './migrate.ts';
import * as schema from './schema/index.ts';
import { ident, type Queryable, type SqlParam, type Store } from './store.ts';

const { drizzle } = nodePostgres;
const { migrate } = nodePostgresMigrator;

// Postgres returns int8 and numeric as strings by default; counts in Ebb's own tables fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

// An arbitrary, fixed advisory-lock key: processes starting together against one Postgres take turns,
// so each migration is applied exactly once.
const MIGRATION_LOCK_KEY = 0x0ebb0001;

function queryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(text: string, params?: readonly SqlParam[]) {
      const result = await client.query(text, params as unknown[] | undefined);
      return result.rows as Row[];
    },
    async execute(text: string, params?: readonly SqlParam[]) {
      const result = await client.query(text, params as unknown[] | undefined);
      return result.rowCount ?? 0;
    },
  };
}

export interface PostgresStoreOptions {
  url: string;
  max?: number;
  connectionTimeoutMillis?: number;
  applicationName?: string;
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    application_name: options.applicationName ?? 'ebb',
  });
  // An idle client that loses its connection (server restart) must not crash the process; the pool
  // drops it and the next query gets a fresh one.
  pool.on('error', () => {});
  // The same for a client checked out by a transaction or a COPY: without a listener, a terminated
  // backend is an unhandled 'error' event that kills the process. The query in flight still rejects
  // with the real error, and the pool discards the dead client on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  // Fail at start-up, not on the first request, when the database cannot be reached.
  const probe = await pool.connect();
  probe.release();

  const db = drizzle({ client: pool, schema });
  return {
    kind: 'postgres',
    db,
    ...queryable(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(queryable(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async copyIn(table, columns, chunks) {
      const client = await pool.connect();
      let failure: unknown;
      try {
        const stream = client.query(
          copyFrom(`COPY ${ident(table)} (${columns.map(ident).join(', ')}) FROM STDIN`),
        );
        // A COPY the server rejects (bad row) errors the stream; surface it instead of hanging on drain.
        const failed = once(stream, 'error').then(([error]) => {
          throw error;
        });
        failed.catch(() => {});
        for await (const chunk of chunks) {
          if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), failed]);
        }
        stream.end();
        await Promise.race([once(stream, 'finish'), failed]);
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        // A connection left mid-COPY (the source of rows threw, or the server refused) cannot serve
        // another query: destroy it rather than hand it back to the pool.
        client.release(failure instanceof Error ? failure : failure === undefined ? undefined : true);
      }
    },
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
        const before = await appliedMigrations(queryable(client));
        await migrate(drizzle({ client }), { migrationsFolder });
        return (await appliedMigrations(queryable(client))) - before;
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
