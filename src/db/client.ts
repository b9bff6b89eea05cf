import path from 'node:path';
import { ConfigError } from '../config.ts';
import { openPgliteStore } from './pglite.ts';
import { openPostgresStore } from './postgres.ts';
import type { Store } from './store.ts';

export type { Db, Queryable, Store } from './store.ts';

/** Describes why a connection failed in one line, without a stack trace. */
function describeConnectError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: string }).code;
  const aggregate = error instanceof AggregateError ? error.errors[0] : undefined;
  const message = error.message || (aggregate instanceof Error ? aggregate.message : '');
  return code && !message.includes(code) ? `${message} (${code})` : message || code || 'unknown error';
}

/**
 * Opens the state store: Postgres when DATABASE_URL is set, else PGlite persisted under the data
 * folder. Connection problems become a ConfigError naming the variable.
 */
export async function openStore(options: { databaseUrl?: string; dataDir: string }): Promise<Store> {
  if (options.databaseUrl) {
    try {
      return await openPostgresStore({ url: options.databaseUrl, connectionTimeoutMillis: 5000 });
    } catch (error) {
      throw new ConfigError('DATABASE_URL', `cannot connect: ${describeConnectError(error)}`);
    }
  }
  const dataDir = path.join(options.dataDir, 'pgdata');
  try {
    return await openPgliteStore({ dataDir });
  } catch (error) {
    throw new ConfigError(
      'EBB_DATA_DIR',
      `cannot open the embedded database in ${dataDir}: ${describeConnectError(error)}`,
    );
  }
}
