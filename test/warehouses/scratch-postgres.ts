import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A throwaway database for one warehouse test file, on the Postgres every machine and CI runs (the
 * server of DATABASE_URL when it is set). Warehouse tests need a real Postgres even when the state
 * store under test is PGlite, since the warehouse driver is the thing tested.
 */
export interface ScratchDatabase {
  url: string;
  /** Runs setup SQL as the owner, outside any read-only guard. */
  admin(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

function serverUrl(database: string): string {
  const url = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${database}`;
  return url.toString();
}

async function once(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function createScratchDatabase(): Promise<ScratchDatabase> {
  const name = `ebb_wh_${randomBytes(6).toString('hex')}`;
  await once(serverUrl('postgres'), `CREATE DATABASE ${name}`);
  const url = serverUrl(name);
  const owner = new pg.Client({ connectionString: url });
  await owner.connect();
  return {
    url,
    admin: (text, params) => owner.query(text, params),
    async drop() {
      await owner.end();
      await once(serverUrl('postgres'), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
