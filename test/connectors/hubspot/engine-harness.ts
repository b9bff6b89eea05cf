import { hubspotConnector } from '../../../connectors/hubspot/index.ts';
import { defineConnector } from '../../../connectors/index.ts';
import type { Store } from '../../../src/db/client.ts';
import type { RunCounts, SyncMode } from '../../../src/db/schema/index.ts';
import { newId } from '../../../src/lib/ids.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createSecretBox } from '../../../src/secrets/box.ts';
import { splitSecrets } from '../../../src/secrets/split.ts';
import type { EngineDeps } from '../../../src/sync/context.ts';
import { createLimiterRegistry } from '../../../src/sync/deliver/limiters.ts';
import type { Clock } from '../../../src/sync/deliver/retry.ts';
import { planRun } from '../../../src/sync/plan/index.ts';
import { enqueueRun } from '../../../src/sync/queue.ts';
import type { RunEnd } from '../../../src/sync/run.ts';
import { duckdbDriver } from '../../../src/warehouses/duckdb.ts';
import { runNow } from '../../../src/worker/worker.ts';
import type { HubspotEmulator } from '../../emulators/hubspot/server.ts';

/**
 * The whole engine (DuckDB model → plan → outbox → delivery through the credential's limiter) with the
 * real HubSpot connector and SDK pointed at the emulator. Shared by the end-to-end test and the bench.
 */

export interface HubspotSync {
  deps: EngineDeps;
  syncId: string;
  setModelSql(sql: string): Promise<void>;
  run(): Promise<SyncRunResult>;
  close(): Promise<void>;
}

export interface SyncRunResult {
  runId: string;
  end: RunEnd;
  counts: RunCounts | null;
}

/** The engine's dependencies with the given connectors, a DuckDB source and a fresh limiter registry. */
export function createEngineDeps(
  store: Store,
  connectors: EngineDeps['connectors'],
  options: { clock?: Clock; retry?: EngineDeps['retry'] } = {},
): EngineDeps {
  return {
    store,
    secrets: createSecretBox(Buffer.alloc(32, 9)),
    logger: silentLogger,
    connectors,
    warehouses: { duckdb: duckdbDriver },
    limiters: createLimiterRegistry(),
    planRun,
    config: { warehouseStatementTimeoutMs: 60_000, allowPrivateNetwork: true },
    retry: options.retry,
    clock: options.clock,
  };
}

/** Enqueues a run of the sync and executes it in this process, as `ebb run --wait` does. */
export async function runSync(
  deps: EngineDeps,
  syncId: string,
  options: { drain?: AbortSignal } = {},
): Promise<SyncRunResult> {
  const queued = await enqueueRun(deps.store, { syncId, trigger: 'cli' });
  if (!queued.ok) throw new Error(`enqueue failed: ${queued.reason}`);
  const result = await runNow(deps, queued.run.id, { leaseMs: 60_000, drain: options.drain });
  if (!result.ok) throw new Error(result.message);
  const [row] = await deps.store.query<{ counts: RunCounts | null }>(
    'select counts from sync_runs where id = $1',
    [queued.run.id],
  );
  return { runId: queued.run.id, end: result.end, counts: row?.counts ?? null };
}

/** Source, model and destination rows for a sync of `sql` into `kind`, with the contact mappings. */
export async function insertSync(
  deps: EngineDeps,
  options: {
    sql: string;
    mode: SyncMode;
    kind: string;
    config: Record<string, unknown>;
    identifier: { from: string; to: string } | null;
  },
): Promise<{ syncId: string; modelId: string }> {
  const { store } = deps;
  const [sourceId, modelId, destinationId, syncId] = [
    newId('source'),
    newId('model'),
    newId('destination'),
    newId('sync'),
  ];
  const connector = deps.connectors[options.kind];
  if (!connector) throw new Error(`no connector ${options.kind}`);
  await store.execute(`insert into sources (id, name, kind, config) values ($1, $1, 'duckdb', '{}')`, [
    sourceId,
  ]);
  await store.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, $3, 'id')`,
    [modelId, sourceId, options.sql],
  );
  const sealed = splitSecrets(options.config, connector.secretFields, deps.secrets);
  await store.execute(
    `insert into destinations (id, name, kind, config, secrets) values ($1, $1, $2, $3::jsonb, $4)`,
    [destinationId, options.kind, JSON.stringify(sealed.config), sealed.secrets],
  );
  await store.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, identifier, mappings, schedule)
     values ($1, $1, $2, $3, 'contacts', $4, $5::jsonb, $6::jsonb, '{"type":"manual"}')`,
    [
      syncId,
      modelId,
      destinationId,
      options.mode,
      JSON.stringify(options.identifier),
      JSON.stringify([
        { from: 'email', to: 'email' },
        { from: 'first_name', to: 'firstname' },
        { from: 'last_name', to: 'lastname' },
      ]),
    ],
  );
  return { syncId, modelId };
}

export async function createHubspotSync(
  store: Store,
  emulator: HubspotEmulator,
  options: {
    sql: string;
    mode: SyncMode;
    destination?: Record<string, unknown>;
    clock?: Clock;
    retry?: EngineDeps['retry'];
  },
): Promise<HubspotSync> {
  const deps = createEngineDeps(store, { hubspot: defineConnector(hubspotConnector) }, options);
  const { syncId, modelId } = await insertSync(deps, {
    sql: options.sql,
    mode: options.mode,
    kind: 'hubspot',
    config: {
      accessToken: emulator.options.accessToken,
      basePath: emulator.url,
      tier: 'professional',
      ...options.destination,
    },
    identifier: { from: 'email', to: 'email' },
  });
  return {
    deps,
    syncId,
    async setModelSql(sql) {
      await store.execute('update models set sql = $2 where id = $1', [modelId, sql]);
    },
    run: () => runSync(deps, syncId),
    close: () => deps.limiters.close(),
  };
}

/**
 * A DuckDB model of `n` contacts: `version` changes first names of every tenth row, `bad` gives every
 * 97th row an invalid email (HubSpot rejects it), `drop` removes every seventh row.
 */
export interface ModelShape {
  n: number;
  version: number;
  bad: boolean;
  drop: boolean;
}

export function contactsSql(shape: ModelShape): string {
  const email = shape.bad
    ? `case when i % 97 = 0 then 'broken' || i else 'user' || i || '@example.com' end`
    : `'user' || i || '@example.com'`;
  const first = `case when i % 10 = 0 then 'V${shape.version}-' || i else 'F' || i end`;
  const where = shape.drop ? 'where i % 7 <> 0' : '';
  return `select i as id, ${email} as email, ${first} as first_name, 'L' || i as last_name
          from range(1, ${shape.n + 1}) t(i) ${where}`;
}

/** The contacts HubSpot should hold for a shape: email → first name (rows with a bad email are absent). */
export function expectedContacts(shape: ModelShape): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 1; i <= shape.n; i++) {
    if (shape.drop && i % 7 === 0) continue;
    if (shape.bad && i % 97 === 0) continue;
    out.set(`user${i}@example.com`, i % 10 === 0 ? `V${shape.version}-${i}` : `F${i}`);
  }
  return out;
}
