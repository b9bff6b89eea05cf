import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inject } from 'vitest';
import { openPgliteStore } from '../../src/db/pglite.ts';
import { openPostgresStore } from '../../src/db/postgres.ts';
import type { Store } from '../../src/db/store.ts';
import { adminQuery, testDatabaseUrl, urlForDatabase } from './templates.ts';

export interface TestStore extends Store {
  /** The connection URL of this test's own database (Postgres runs only). */
  url?: string;
}

/**
 * A migrated store that belongs to one test: its own database cloned from the template on Postgres, or
 * its own in-memory PGlite. Tests never see each other's rows, so they run in parallel in any order.
 */
export async function createTestStore(): Promise<TestStore> {
  const templates = inject('ebbTemplates');
  const base = testDatabaseUrl();
  if (base && templates.postgresTemplate) {
    const name = `ebb_t_${randomBytes(6).toString('hex')}`;
    await adminQuery(base, `CREATE DATABASE ${name} TEMPLATE ${templates.postgresTemplate}`);
    const url = urlForDatabase(base, name);
    const store = await openPostgresStore({ url, max: 5 });
    return {
      ...store,
      url,
      async close() {
        await store.close();
        await adminQuery(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  }
  if (!templates.pgliteTarball) throw new Error('global setup did not prepare a PGlite template');
  const tarball = new Blob([await readFile(templates.pgliteTarball)]);
  return openPgliteStore({ loadDataDir: tarball });
}
