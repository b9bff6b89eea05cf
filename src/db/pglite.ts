import { mkdir } from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { pglite, pgliteMigrator } from './drizzle.ts';
import { appliedMigrations, migrationsFolder } from './migrate.ts';
import * as schema from './schema/index.ts';
import { ident, type Queryable, type SqlParam, type Store } from './store.ts';

const { drizzle } = pglite;
const { migrate } = pgliteMigrator;

type PgliteLike = Pick<PGlite | Transaction, 'query'>;

function queryable(client: PgliteLike): Queryable {
  return {
    async query<Row>(text: string, params?: readonly SqlParam[]) {
      const result = await client.query<Row>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async execute(text: string, params?: readonly SqlParam[]) {
      const result = await client.query(text, params as unknown[] | undefined);
      return result.affectedRows ?? 0;
    },
  };
}

/** PGlite has no COPY FROM STDIN; it copies from a blob, so rows are loaded in bounded slices. */
const COPY_SLICE_BYTES = 8 * 1024 * 1024;

export interface PgliteStoreOptions {
  /** A data folder to persist to; omitted for an in-memory store (tests). */
  dataDir?: string;
  /** A data-folder tarball to start from (tests start from a migrated template). */
  loadDataDir?: Blob;
}

export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<Store> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const client = await PGlite.create({
    dataDir: options.dataDir,
    loadDataDir: options.loadDataDir,
    parsers: { 20: (v: string) => Number(v) },
  });
  const db = drizzle({ client, schema });
  const copySlice = async (table: string, columns: readonly string[], text: string) => {
    await client.query(`COPY ${ident(table)} (${columns.map(ident).join(', ')}) FROM '/dev/blob'`, [], {
      blob: new Blob([text]),
    });
  };
  return {
    kind: 'pglite',
    db,
    ...queryable(client),
    transaction(fn) {
      return client.transaction((tx) => fn(queryable(tx)));
    },
    async copyIn(table, columns, chunks) {
      let buffered: string[] = [];
      let size = 0;
      for await (const chunk of chunks) {
        buffered.push(chunk);
        size += chunk.length;
        if (size >= COPY_SLICE_BYTES) {
          await copySlice(table, columns, buffered.join(''));
          buffered = [];
          size = 0;
        }
      }
      if (size > 0) await copySlice(table, columns, buffered.join(''));
    },
    async migrate() {
      const before = await appliedMigrations(queryable(client));
      await migrate(db, { migrationsFolder });
      return (await appliedMigrations(queryable(client))) - before;
    },
    async close() {
      await client.close();
    },
  };
}
