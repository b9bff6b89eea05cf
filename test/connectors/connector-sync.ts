import { defineConnector } from '../../connectors/index.ts';
import type { Connector } from '../../connectors/types.ts';
import { newId } from '../../src/lib/ids.ts';
import { silentLogger } from '../../src/logger.ts';
import { createSecretBox } from '../../src/secrets/box.ts';
import { splitSecrets } from '../../src/secrets/split.ts';
import type { EngineDeps } from '../../src/sync/context.ts';
import { createLimiterRegistry } from '../../src/sync/deliver/limiters.ts';
import type { Clock } from '../../src/sync/deliver/retry.ts';
import { planRun } from '../../src/sync/plan/index.ts';
import { enqueueRun } from '../../src/sync/queue.ts';
import type { RunEnd } from '../../src/sync/run.ts';
import { duckdbDriver } from '../../src/warehouses/duckdb.ts';
import { runNow } from '../../src/worker/worker.ts';
import type { TestScope } from '../helpers/per-test.ts';
import type { TestStore } from '../helpers/store.ts';

/**
 * A sync from a DuckDB model (literal rows) to a real connector, run by the real engine in-process.
 * The destination's config goes through `splitSecrets` and back, as the API stores it.
 */

/** A model row: its primary key `id` and one column per mapping's `from`. */
export type ModelRow = { id: number } & Record<string, string | number>;

/** The model unless a test maps more columns: a name per id, mapped to `name`. */
export type Row = { id: number; name: string };

export interface Mapping {
  from: string;
  to: string;
}

export const range = (from: number, to: number, name: string): Row[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, name: `${name}-${from + i}` }));

/** Sleeps return at once and advance time, so retry waits (Retry-After included) cost nothing. */
export function instantClock(): Clock & { sleeps: number[] } {
  let now = Date.now();
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    random: Math.random,
    async sleep(ms) {
      sleeps.push(ms);
      now += ms;
    },
  };
}

/** Literal rows as DuckDB SQL; test values hold no quotes, so strings go in unescaped. */
function modelSql(rows: readonly ModelRow[], columns: readonly string[]): string {
  const literal = (value: string | number | undefined) => (typeof value === 'number' ? value : `'${value}'`);
  const values = rows.map((r) => `(${columns.map((c) => literal(r[c])).join(', ')})`).join(', ');
  return `select * from (values ${values}) t(${columns.join(', ')})`;
}

export interface ConnectorSync<R extends ModelRow = Row> {
  clock: Clock & { sleeps: number[] };
  syncId: string;
  /** Runs once with the model set to `rows`. */
  run(rows: R[]): Promise<{ runId: string; end: RunEnd }>;
  /** Runs until a run succeeds (at most `max`), as rejected rows come back in the next run. */
  runUntilDone(rows: R[], max?: number): Promise<string[]>;
  close(): Promise<void>;
}

export interface ConnectorSyncOptions<Config> {
  connector: Connector<Config>;
  config: Config;
  mode?: 'upsert' | 'mirror';
  object?: string;
  identifier?: Mapping;
  /** The model's columns besides `id` are the mappings' `from`s, in this order. */
  mappings?: Mapping[];
  massDelete?: { share: number; min: number };
}

/** A connector sync on the running test's own store, closed when the test ends. */
export async function connectorSyncFor<Config, R extends ModelRow = Row>(
  scope: TestScope,
  options: ConnectorSyncOptions<Config>,
): Promise<ConnectorSync<R>> {
  return scope.own(await createConnectorSync<Config, R>(scope.store, options));
}

export async function createConnectorSync<Config, R extends ModelRow = Row>(
  store: TestStore,
  options: ConnectorSyncOptions<Config>,
): Promise<ConnectorSync<R>> {
  const mappings = options.mappings ?? [{ from: 'name', to: 'name' }];
  const columns = ['id', ...mappings.map((m) => m.from)];
  const box = createSecretBox(Buffer.alloc(32, 9));
  const clock = instantClock();
  const limiters = createLimiterRegistry();
  const deps: EngineDeps = {
    store,
    secrets: box,
    logger: silentLogger,
    connectors: { [options.connector.kind]: defineConnector(options.connector) },
    warehouses: { duckdb: duckdbDriver },
    limiters,
    planRun,
    config: { warehouseStatementTimeoutMs: 30_000, allowPrivateNetwork: true },
    retry: { maxAttempts: 10, baseMs: 10, capMs: 200, maxElapsedMs: 600_000 },
    clock,
  };
  const stored = splitSecrets(
    options.config as unknown as Record<string, unknown>,
    options.connector.secretFields,
    box,
  );
  const [sourceId, modelId, destinationId, syncId] = [
    newId('source'),
    newId('model'),
    newId('destination'),
    newId('sync'),
  ];
  await store.execute(`insert into sources (id, name, kind, config) values ($1, $1, 'duckdb', '{}')`, [
    sourceId,
  ]);
  await store.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, 'select 1', 'id')`,
    [modelId, sourceId],
  );
  await store.execute(
    `insert into destinations (id, name, kind, config, secrets) values ($1, $1, $2, $3::jsonb, $4)`,
    [destinationId, options.connector.kind, JSON.stringify(stored.config), stored.secrets],
  );
  // The guard's default share with a high floor: tests remove rows on purpose and check the result.
  const massDelete = options.massDelete ?? { share: 0.2, min: 1000 };
  await store.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, identifier, mappings, schedule,
       mass_delete_max_share, mass_delete_min_count)
     values ($1, $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, '{"type":"manual"}', $8, $9)`,
    [
      syncId,
      modelId,
      destinationId,
      options.object ?? 'customers',
      options.mode ?? 'mirror',
      options.identifier ? JSON.stringify(options.identifier) : null,
      JSON.stringify(mappings),
      massDelete.share,
      massDelete.min,
    ],
  );

  async function run(rows: R[]) {
    await store.execute('update models set sql = $2 where id = $1', [modelId, modelSql(rows, columns)]);
    const queued = await enqueueRun(store, { syncId, trigger: 'cli' });
    if (!queued.ok) throw new Error(`enqueue failed: ${queued.reason}`);
    const result = await runNow(deps, queued.run.id, { leaseMs: 30_000 });
    if (!result.ok) throw new Error(result.message);
    return { runId: queued.run.id, end: result.end };
  }

  return {
    clock,
    syncId,
    run,
    async runUntilDone(rows, max = 4) {
      const statuses: string[] = [];
      for (let attempt = 0; attempt < max; attempt += 1) {
        const { end } = await run(rows);
        statuses.push(end.status);
        if (end.status === 'succeeded') break;
      }
      return statuses;
    },
    close: () => limiters.close(),
  };
}
