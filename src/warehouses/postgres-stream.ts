import type pg from 'pg';
import Cursor from 'pg-cursor';
import { beginReadOnly, checkUniqueNames, modelQuery, toWarehouseError } from './postgres-sql.ts';
import { type StreamOptions, WarehouseError, type WarehouseRow } from './types.ts';

export interface StreamDeps {
  pool: pg.Pool;
  typeParsers: (client: pg.PoolClient) => Promise<pg.CustomTypesConfig>;
  terminateBackend: (pid: number) => Promise<void>;
}

/**
 * Streams a model through a server-side cursor (pg-cursor) in a read-only transaction: one FETCH of
 * `batchSize` rows per batch, so memory holds one batch whatever the model's size.
 */
export async function* streamRows(
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
    const read = () => {
      const batch = new Promise<WarehouseRow[]>((resolve, reject) => {
        open.read(batchSize, (error, rows, result) => {
          if (error) return reject(error);
          if (first) {
            first = false;
            try {
              checkUniqueNames(result.fields);
            } catch (duplicate) {
              return reject(duplicate);
            }
          }
          resolve(rows);
        });
      });
      // A prefetch still in flight when the consumer stops is abandoned with its connection; its
      // rejection then has no one waiting, which must not crash the process.
      batch.catch(() => undefined);
      return batch;
    };
    // One batch is fetched ahead while the consumer handles the current one, so the server works
    // while Node does: memory holds at most two batches.
    let next = read();
    for (;;) {
      const rows = await next;
      // The connection closes only once the backend is terminated; rows read meanwhile are dropped.
      signal?.throwIfAborted();
      // A short read means the portal is complete: Postgres suspends only after exactly `batchSize`.
      const complete = rows.length < batchSize;
      if (!complete) next = read();
      if (rows.length > 0) yield rows;
      if (complete) break;
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
