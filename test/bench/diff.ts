/**
 * `npm run bench:diff -- --rows N`: the diff engine against its physical floor, on the Postgres in
 * DATABASE_URL. A first sync of an N-row, 10-column model, then 1% changed, 0.1% deleted and 1% added,
 * and an incremental mirror sync, both through the real engine (planRun, then executeRun's delivery)
 * to an in-process destination that accepts everything. The floor, measured in the same run: COPY the
 * model out as CSV, plus a binary COPY of N (pk, hash) rows into an indexed table.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { z } from 'zod';
import type { Connector } from '../../connectors/types.ts';
import { openPostgresStore } from '../../src/db/postgres.ts';
import type { RunCounts } from '../../src/db/schema/index.ts';
import type { Store } from '../../src/db/store.ts';
import { newId } from '../../src/lib/ids.ts';
import { createLogger, silentLogger } from '../../src/logger.ts';
import { createSecretBox } from '../../src/secrets/box.ts';
import type { EngineDeps } from '../../src/sync/context.ts';
import { createLimiterRegistry } from '../../src/sync/deliver/limiters.ts';
import { planRun } from '../../src/sync/plan/index.ts';
import { enqueueRun } from '../../src/sync/queue.ts';
import { postgresDriver } from '../../src/warehouses/postgres.ts';
import { runNow } from '../../src/worker/worker.ts';

/**
 * RSS right after the imports, before any work (see src/db/drizzle.ts for why drizzle is loaded with
 * `require`). Reported on its own line (the last line keeps its format) so the engine's own share, peak
 * minus this, is visible.
 */
const startupRssMb = process.resourceUsage().maxRSS / 1024;

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } });
const rows = Number(values.rows);
const baseUrl = process.env.DATABASE_URL;
if (!baseUrl) {
  console.error('bench:diff needs DATABASE_URL (a Postgres it may create scratch databases on)');
  process.exit(1);
}
if (!Number.isInteger(rows) || rows < 1000) {
  console.error(`bench:diff --rows must be a whole number of at least 1000, got ${values.rows}`);
  process.exit(1);
}

function urlFor(database: string): string {
  const url = new URL(baseUrl as string);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: urlFor('postgres') });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const seconds = (start: number) => (performance.now() - start) / 1000;

/** Accepts every record at once: the bench measures Ebb, not a destination. */
const acceptAll: Connector<Record<string, never>> = {
  kind: 'accept_all',
  label: 'Accept all (bench)',
  configSchema: z.object({}).strict(),
  secretFields: [],
  capabilities: () => ({
    modes: ['upsert', 'update', 'insert', 'mirror'],
    objects: 'any',
    identifier: 'optional',
    maxBatchRecords: 5000,
    maxBatchBytes: 512 * 1024 * 1024,
  }),
  limits: () => ({ requestsPerInterval: 1_000_000, intervalMs: 1000, maxConcurrent: 2 }),
  credentialKey: () => 'bench',
  create: () => ({
    async test() {
      return { ok: true };
    },
    async write(batch) {
      return { ok: true, outcomes: batch.map((c) => ({ key: c.key, status: 'accepted' as const })) };
    },
  }),
};

const modelSql = 'select * from model';

async function createModel(warehouse: pg.Client): Promise<void> {
  await warehouse.query(`create table model (
    id bigint primary key, email text not null, name text, company text, city text, score integer,
    amount numeric(12, 2), active boolean, created_at timestamptz, updated_at timestamptz)`);
  await warehouse.query(
    `insert into model
     select i, 'user' || i || '@example.com', 'Name ' || i, 'Company ' || (i % 5000), 'City ' || (i % 300),
            (i * 7) % 1000, ((i * 13) % 100000) / 100.0, i % 3 = 0,
            timestamptz '2024-01-01' + i * interval '1 second', timestamptz '2024-06-01' + i * interval '1 second'
     from generate_series(1, $1::bigint) i`,
    [rows],
  );
  await warehouse.query('vacuum analyze model');
}

/** 1% changed, 0.1% deleted (disjoint from the changed), 1% added. Returns the exact counts. */
async function mutateModel(warehouse: pg.Client) {
  const changed = await warehouse.query(`update model set name = name || ' (edited)' where id % 100 = 0`);
  const deleted = await warehouse.query('delete from model where id % 1000 = 1');
  const added = await warehouse.query(
    `insert into model select i, 'new' || i || '@example.com', 'New ' || i, 'Co', 'Town', 1, 1.5, true, now(), now()
     from generate_series($1::bigint + 1, $1::bigint + $2::bigint) i`,
    [rows, Math.floor(rows / 100)],
  );
  await warehouse.query('vacuum analyze model');
  return { changed: changed.rowCount ?? 0, deleted: deleted.rowCount ?? 0, added: added.rowCount ?? 0 };
}

async function seedSync(store: Store, warehouseUrl: string): Promise<string> {
  const [sourceId, modelId, destinationId, syncId] = [
    newId('source'),
    newId('model'),
    newId('destination'),
    newId('sync'),
  ];
  await store.execute(`insert into sources (id, name, kind, config) values ($1, $1, 'postgres', $2)`, [
    sourceId,
    { url: warehouseUrl },
  ]);
  await store.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, $3, 'id')`,
    [modelId, sourceId, modelSql],
  );
  await store.execute(
    `insert into destinations (id, name, kind, config) values ($1, $1, 'accept_all', '{}')`,
    [destinationId],
  );
  const columns = ['name', 'company', 'city', 'score', 'amount', 'active', 'created_at', 'updated_at'];
  await store.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, identifier, mappings, schedule)
     values ($1, $1, $2, $3, 'contacts', 'mirror', $4, $5, '{"type":"manual"}')`,
    [
      syncId,
      modelId,
      destinationId,
      { from: 'email', to: 'email' },
      JSON.stringify(columns.map((c) => ({ from: c, to: c }))),
    ],
  );
  return syncId;
}

interface BenchRun {
  seconds: number;
  counts: RunCounts;
  /** Planning's share of the run, from the run's own timings. */
  planSeconds: number;
}

async function runSync(deps: EngineDeps, syncId: string): Promise<BenchRun> {
  const start = performance.now();
  const queued = await enqueueRun(deps.store, { syncId, trigger: 'cli' });
  if (!queued.ok) throw new Error(`could not enqueue the run: ${queued.reason}`);
  const result = await runNow(deps, queued.run.id, { leaseMs: 120_000 });
  const elapsed = seconds(start);
  if (!result.ok) throw new Error(result.message);
  if (result.end.status !== 'succeeded') throw new Error(`the run ended ${JSON.stringify(result.end)}`);
  const [row] = await deps.store.query<{ counts: RunCounts | null; timings: Record<string, number> | null }>(
    'select counts, timings from sync_runs where id = $1',
    [queued.run.id],
  );
  if (!row?.counts) throw new Error('the run recorded no counts');
  deps.logger.info({ seconds: elapsed, peakRssMb: process.resourceUsage().maxRSS / 1024 }, 'bench run done');
  return {
    seconds: elapsed,
    counts: row.counts,
    planSeconds: (row.timings?.planningMs ?? Number.NaN) / 1000,
  };
}

/** COPY the model out as CSV, discarding it: the cost of reading the data at all. */
async function copyOut(warehouse: pg.Client): Promise<number> {
  const start = performance.now();
  const stream = warehouse.query(copyTo('COPY (select * from model) TO STDOUT (FORMAT csv)'));
  stream.resume();
  await once(stream, 'end');
  return seconds(start);
}

/** A binary COPY of N (pk, hash) rows into a table with a primary key: the cost of staging at all. */
async function copyPkHash(state: pg.Client, n: number): Promise<number> {
  await state.query('create unlogged table floor_stage (pk text primary key, hash text not null)');
  const start = performance.now();
  const stream = state.query(copyFrom('COPY floor_stage (pk, hash) FROM STDIN (FORMAT binary)'));
  const header = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');
  stream.write(header);
  const chunkRows = 10_000;
  for (let from = 1; from <= n; from += chunkRows) {
    const parts: Buffer[] = [];
    for (let i = from; i < Math.min(from + chunkRows, n + 1); i++) {
      const pk = Buffer.from(String(i));
      const hash = Buffer.from(((i * 2654435761) >>> 0).toString(16).padStart(8, '0').repeat(4));
      const row = Buffer.alloc(2 + 4 + pk.length + 4 + hash.length);
      row.writeInt16BE(2, 0);
      row.writeInt32BE(pk.length, 2);
      pk.copy(row, 6);
      row.writeInt32BE(hash.length, 6 + pk.length);
      hash.copy(row, 10 + pk.length);
      parts.push(row);
    }
    if (!stream.write(Buffer.concat(parts))) await once(stream, 'drain');
  }
  stream.end(Buffer.from([0xff, 0xff]));
  await once(stream, 'finish');
  return seconds(start);
}

async function main(): Promise<number> {
  const suffix = randomBytes(4).toString('hex');
  const stateDb = `ebb_bench_state_${suffix}`;
  const warehouseDb = `ebb_bench_wh_${suffix}`;
  await admin(`create database ${stateDb}`);
  await admin(`create database ${warehouseDb}`);
  const warehouse = new pg.Client({ connectionString: urlFor(warehouseDb) });
  const state = new pg.Client({ connectionString: urlFor(stateDb) });
  const store = await openPostgresStore({ url: urlFor(stateDb) });
  const limiters = createLimiterRegistry();
  try {
    await warehouse.connect();
    await state.connect();
    await store.migrate();
    await createModel(warehouse);
    const deps: EngineDeps = {
      store,
      secrets: createSecretBox(randomBytes(32)),
      // EBB_BENCH_LOG=info shows the engine's own phase timings on stderr.
      logger: process.env.EBB_BENCH_LOG
        ? createLogger({ level: process.env.EBB_BENCH_LOG, format: 'json' })
        : silentLogger,
      connectors: { accept_all: acceptAll as Connector },
      warehouses: { postgres: postgresDriver as EngineDeps['warehouses'][string] },
      limiters,
      planRun,
      config: { warehouseStatementTimeoutMs: 600_000, allowPrivateNetwork: true },
    };
    const syncId = await seedSync(store, urlFor(warehouseDb));

    const first = await runSync(deps, syncId);
    const expectedFirst = { upsert: rows, delete: 0, unchanged: 0 };
    const mutation = await mutateModel(warehouse);
    // Settle the state store as a scheduled run would find it, minutes after the first: autovacuum has
    // processed the million rows the first run wrote, instead of competing with the timed run.
    await store.execute('vacuum (analyze) sync_snapshots, run_records, sync_runs');
    const incremental = await runSync(deps, syncId);
    const expectedIncremental = {
      upsert: mutation.changed + mutation.added,
      delete: mutation.deleted,
      unchanged: rows - mutation.deleted - mutation.changed,
    };

    const floor = (await copyOut(warehouse)) + (await copyPkHash(state, rows));
    const failures: string[] = [];
    for (const [name, got, want] of [
      ['first', first.counts, expectedFirst],
      ['incremental', incremental.counts, expectedIncremental],
    ] as const) {
      const planned = {
        upsert: got.planned.upsert,
        delete: got.planned.delete,
        unchanged: got.planned.unchanged,
      };
      if (JSON.stringify(planned) !== JSON.stringify(want) || got.invalid !== 0 || got.pending !== 0) {
        failures.push(`${name} run planned ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      }
    }
    for (const failure of failures) console.error(`bench:diff count mismatch: ${failure}`);
    const peak = process.resourceUsage().maxRSS / 1024;
    const delivery = (run: BenchRun) => run.seconds - run.planSeconds;
    console.log(
      `bench:diff phases first_plan_s=${first.planSeconds.toFixed(2)} first_deliver_s=${delivery(first).toFixed(2)} ` +
        `incremental_plan_s=${incremental.planSeconds.toFixed(2)} incremental_deliver_s=${delivery(incremental).toFixed(2)} ` +
        `plan_ratio=${(incremental.planSeconds / floor).toFixed(2)} startup_rss_mb=${startupRssMb.toFixed(0)} ` +
        `engine_rss_mb=${(peak - startupRssMb).toFixed(0)}`,
    );
    console.log(
      `bench:diff rows=${rows} first_s=${first.seconds.toFixed(2)} incremental_s=${incremental.seconds.toFixed(2)} ` +
        `floor_s=${floor.toFixed(2)} ratio=${(incremental.seconds / floor).toFixed(2)} peak_rss_mb=${peak.toFixed(0)}`,
    );
    return failures.length === 0 ? 0 : 1;
  } finally {
    await Promise.allSettled([warehouse.end(), state.end(), store.close(), limiters.close()]);
    await admin(`drop database if exists ${stateDb} with (force)`);
    await admin(`drop database if exists ${warehouseDb} with (force)`);
  }
}

process.exitCode = await main();
