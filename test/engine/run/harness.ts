import type { RunCounts, SyncMode } from '../../../src/db/schema/index.ts';
import { newId } from '../../../src/lib/ids.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createSecretBox } from '../../../src/secrets/box.ts';
import type { EngineDeps } from '../../../src/sync/context.ts';
import { createLimiterRegistry } from '../../../src/sync/deliver/limiters.ts';
import type { Clock } from '../../../src/sync/deliver/retry.ts';
import { planRun } from '../../../src/sync/plan/index.ts';
import { enqueueRun } from '../../../src/sync/queue.ts';
import type { RunEnd } from '../../../src/sync/run.ts';
import { duckdbDriver } from '../../../src/warehouses/duckdb.ts';
import { runNow } from '../../../src/worker/worker.ts';
import {
  createMemoryDestination,
  type MemoryDestination,
  type MemoryOptions,
} from '../../helpers/memory-destination.ts';
import type { TestScope } from '../../helpers/per-test.ts';
import type { TestStore } from '../../helpers/store.ts';

/** A clock whose sleeps return at once and advance time, recording each wait. */
export interface TestClock extends Clock {
  sleeps: number[];
}

export function createTestClock(random = () => 0.5): TestClock {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    random,
    async sleep(ms) {
      sleeps.push(ms);
      now += ms;
    },
  };
}

export type ModelRow = { id: number | null; name: string };

/** Rows 1..n named `<name>-<id>`: a new `name` changes every row, so every row is sent again. */
export const rows = (n: number, name = 'v1'): ModelRow[] =>
  Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `${name}-${i + 1}` }));

/** The model as DuckDB SQL over literal rows, so each test's "warehouse" is just its own query. */
export function modelSql(rows: readonly ModelRow[]): string {
  if (rows.length === 0) return `select * from (values (1, 'x')) t(id, name) where false`;
  const values = rows
    .map((r) => `(${r.id === null ? 'null::integer' : r.id}, '${r.name.replaceAll("'", "''")}')`)
    .join(', ');
  return `select * from (values ${values}) t(id, name)`;
}

export interface Harness {
  deps: EngineDeps;
  dest: MemoryDestination;
  clock: TestClock;
  syncId: string;
  setModel(rows: readonly ModelRow[]): Promise<void>;
  /** Enqueues a run and executes it in-process; returns how it ended and its row. */
  run(options?: { dryRun?: boolean; allowMassDelete?: boolean; fullResync?: boolean }): Promise<{
    runId: string;
    end: RunEnd;
    row: RunRow;
  }>;
  /** The destination's contents as {key: name}. */
  contents(): Record<string, string>;
  close(): Promise<void>;
}

export interface RunRow {
  status: string;
  phase: string;
  errorCode: string | null;
  errorMessage: string | null;
  counts: RunCounts | null;
  plan: Record<string, unknown> | null;
}

export async function readRun(store: TestStore, runId: string): Promise<RunRow> {
  const [row] = await store.query<RunRow>(
    `select status, phase, error_code as "errorCode", error_message as "errorMessage", counts, plan
     from sync_runs where id = $1`,
    [runId],
  );
  if (!row) throw new Error(`run ${runId} not found`);
  return row;
}

export interface HarnessOptions {
  mode?: SyncMode;
  rows?: ModelRow[];
  destination?: MemoryOptions;
  massDelete?: { share: number; min: number };
}

/** A harness on the running test's own store, closed when the test ends. */
export async function harnessFor(scope: TestScope, options?: HarnessOptions): Promise<Harness> {
  return scope.own(await createHarness(scope.store, options));
}

export async function createHarness(store: TestStore, options: HarnessOptions = {}): Promise<Harness> {
  const dest = createMemoryDestination(options.destination);
  const clock = createTestClock();
  const limiters = createLimiterRegistry();
  const deps: EngineDeps = {
    store,
    secrets: createSecretBox(Buffer.alloc(32, 7)),
    logger: silentLogger,
    connectors: { memory: dest.connector },
    warehouses: { duckdb: duckdbDriver },
    limiters,
    planRun,
    config: { warehouseStatementTimeoutMs: 30_000, allowPrivateNetwork: true },
    retry: { maxAttempts: 4, baseMs: 100, capMs: 2000, maxElapsedMs: 60_000 },
    clock,
  };
  const sourceId = newId('source');
  const modelId = newId('model');
  const destinationId = newId('destination');
  const syncId = newId('sync');
  await store.execute(`insert into sources (id, name, kind, config) values ($1, $1, 'duckdb', '{}')`, [
    sourceId,
  ]);
  await store.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, $3, 'id')`,
    [modelId, sourceId, modelSql(options.rows ?? [])],
  );
  await store.execute(`insert into destinations (id, name, kind, config) values ($1, $1, 'memory', '{}')`, [
    destinationId,
  ]);
  await store.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, mappings, schedule,
       mass_delete_max_share, mass_delete_min_count)
     values ($1, $1, $2, $3, 'things', $4, $5::jsonb, '{"type":"manual"}', $6, $7)`,
    [
      syncId,
      modelId,
      destinationId,
      options.mode ?? 'upsert',
      JSON.stringify([{ from: 'name', to: 'name' }]),
      options.massDelete?.share ?? 0.2,
      options.massDelete?.min ?? 100,
    ],
  );
  return {
    deps,
    dest,
    clock,
    syncId,
    async setModel(rows) {
      await store.execute('update models set sql = $2 where id = $1', [modelId, modelSql(rows)]);
    },
    async run(runOptions = {}) {
      const queued = await enqueueRun(store, { syncId, trigger: 'cli', ...runOptions });
      if (!queued.ok) throw new Error(`enqueue failed: ${queued.reason}`);
      const result = await runNow(deps, queued.run.id, { leaseMs: 30_000 });
      if (!result.ok) throw new Error(result.message);
      return { runId: queued.run.id, end: result.end, row: await readRun(store, queued.run.id) };
    },
    contents() {
      return Object.fromEntries(
        [...dest.records.entries()].map(([key, record]) => [key, String(record.fields.name)]),
      );
    },
    close: () => limiters.close(),
  };
}

/** The model rows as the destination should hold them once everything is accepted. */
export function expected(rows: readonly ModelRow[]): Record<string, string> {
  return Object.fromEntries(rows.filter((r) => r.id !== null).map((r) => [String(r.id), r.name]));
}
