import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { openPgliteStore } from '../../src/db/pglite.ts';
import { openPostgresStore } from '../../src/db/postgres.ts';

/** The Postgres server tests run against, when the run targets real Postgres. */
export function testDatabaseUrl(): string | undefined {
  return process.env.DATABASE_URL || undefined;
}

export function urlForDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery(base: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: urlForDatabase(base, 'postgres') });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function prepareTemplates() {
  const base = testDatabaseUrl();
  if (base) {
    const template = `ebb_tpl_${randomBytes(6).toString('hex')}`;
    await adminQuery(base, `CREATE DATABASE ${template}`);
    const store = await openPostgresStore({ url: urlForDatabase(base, template) });
    await store.migrate();
    await store.close();
    return {
      postgresTemplate: template,
      cleanup: async () => {
        await adminQuery(base, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
      },
    };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'ebb-tpl-'));
  const store = await openPgliteStore({ dataDir: path.join(dir, 'data') });
  await store.migrate();
  await store.close();
  const reopened = await PGlite.create({ dataDir: path.join(dir, 'data') });
  const tarball = await reopened.dumpDataDir('none');
  await reopened.close();
  const file = path.join(dir, 'template.tar');
  await writeFile(file, Buffer.from(await tarball.arrayBuffer()));
  return { pgliteTarball: file, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
