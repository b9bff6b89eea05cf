import path from 'node:path';
import type { Store } from '../../src/db/store.ts';
import { createBatchApiHandler } from '../emulators/webhook/batch-api.ts';
import { seededRandom } from '../emulators/webhook/faults.ts';
import {
  type RequestHandler,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../emulators/webhook/server.ts';
import {
  compareMaps,
  createContactsTable,
  createScratchDatabase,
  createStateStore,
  enqueue,
  insertSync,
  type RunRow,
  spawnWorker,
  waitForRun,
} from './harness.ts';
import type { ScenarioContext, ScenarioResult } from './scenario.ts';

/** The first names a receiver holds by model key, for comparing with the model. */
export function receivedNames(receiver: WebhookReceiver): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, data] of receiver.state) {
    const fields = data as Record<string, unknown> | null;
    out.set(key, String(fields?.first_name ?? ''));
  }
  return out;
}

export function expectedNames(rows: number, version: number): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 1; i <= rows; i++) out.set(String(i), `V${version}-${i}`);
  return out;
}

export const signingSecret = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;

export function webhookSyncSpec(warehouseUrl: string, url: string, sql: string, batchSize = 100) {
  return {
    warehouseUrl,
    sql,
    destinationKind: 'webhook' as const,
    destination: {
      url,
      signingSecret,
      batchSize,
      timeoutMs: 5000,
      limits: { requestsPerInterval: 100_000, intervalMs: 1000, maxConcurrent: 4 },
    },
    secretFields: ['secretHeaders', 'signingSecret'],
    object: 'contacts',
    mode: 'upsert' as const,
    identifier: null,
    mappings: [
      { from: 'email', to: 'email' },
      { from: 'first_name', to: 'first_name' },
    ],
  };
}

/** A batch API that refuses one record of every hundredth batch (1%), besides the request faults. */
function partiallyFailingBatchApi(seed: number, injected: { partial: number }): RequestHandler {
  const random = seededRandom(seed);
  const failKeys: Record<string, string> = {};
  const base = createBatchApiHandler({ resultsKey: 'results', failKeys });
  let batches = 0;
  return {
    keysOf: base.keysOf,
    apply(json, state, headers) {
      for (const key of Object.keys(failKeys)) delete failKeys[key];
      const keys = base.keysOf(json);
      batches += 1;
      if (keys.length > 0 && batches % 100 === 50) {
        const victim = keys[Math.floor(random() * keys.length)];
        if (victim !== undefined) {
          failKeys[victim] = 'record temporarily locked, try again later';
          injected.partial += 1;
        }
      }
      return base.apply(json, state, headers);
    },
  };
}

/** Runs the sync until a run leaves nothing rejected or pending, at most `maxRuns` times. */
async function converge(store: Store, syncId: string, maxRuns: number): Promise<RunRow[]> {
  const runs: RunRow[] = [];
  for (let i = 0; i < maxRuns; i++) {
    const run = await waitForRun(store, await enqueue(store, syncId), 240_000);
    runs.push(run);
    if (run.status === 'succeeded' && run.counts?.rejected === 0 && run.counts.pending === 0) break;
  }
  return runs;
}

/**
 * 10% 5xx, 5% 429 with Retry-After, 2% requests applied but never answered (the sender times out),
 * and 1% of batches with one record refused: the sync converges and the destination equals the model.
 */
export async function destinationChaosScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rows = 20_000;
  const injected = { partial: 0 };
  const warehouse = await createScratchDatabase(ctx.baseUrl, 'ebb_wh');
  const { db, store } = await createStateStore(ctx.baseUrl);
  const receiver = await startWebhookReceiver({
    handler: partiallyFailingBatchApi(ctx.seed, injected),
    dedupe: false,
    faults: {
      rates: { error: 0.1, throttle: 0.05, timeout: 0.02 },
      retryAfterSeconds: 1,
      latencyMs: 5,
      seed: ctx.seed,
    },
  });
  const worker = spawnWorker({
    databaseUrl: db.url,
    leaseSeconds: 10,
    logFile: path.join(ctx.logDir, 'destination-chaos.log'),
  });
  try {
    await createContactsTable(warehouse.url, 'contacts', rows);
    const syncId = await insertSync(store, {
      ...webhookSyncSpec(warehouse.url, '', 'select id, email, first_name from contacts'),
      destinationKind: 'http',
      destination: {
        url: `${receiver.url}/batch`,
        maxBatchRecords: 100,
        timeoutMs: 1000,
        results: { path: 'results', keyField: 'id', statusField: 'status', errorField: 'error' },
        limits: { requestsPerInterval: 100_000, intervalMs: 1000, maxConcurrent: 4 },
      },
      secretFields: ['authorization', 'secretHeaders'],
    });
    const runs = await converge(store, syncId, 5);
    const last = runs.at(-1);
    const diff = compareMaps(expectedNames(rows, 1), receivedNames(receiver), (a, b) => a === b);
    const ok = last?.status === 'succeeded' && diff.missing === 0 && diff.extra === 0 && diff.wrong === 0;
    return {
      ok,
      fields: {
        runs: runs.length,
        lost: diff.missing,
        duplicates: 0,
        extra: diff.extra,
        wrong: diff.wrong,
        statuses: runs.map((r) => r.status).join(','),
        rejected_first_run: runs[0]?.counts?.rejected ?? 0,
        requests: receiver.stats.requests,
        faults: receiver.stats.faults,
        partial_batches: injected.partial,
      },
    };
  } finally {
    await worker.stop();
    await receiver.close();
    await store.close();
    await db.drop();
    await warehouse.drop();
  }
}

/**
 * The model query fails mid-stream (division by zero at one row, after thousands were read): the run
 * fails with Postgres's own error text, the snapshot is untouched and nothing is sent.
 */
export async function warehouseMidstreamScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rows = 20_000;
  const warehouse = await createScratchDatabase(ctx.baseUrl, 'ebb_wh');
  const { db, store } = await createStateStore(ctx.baseUrl);
  const receiver = await startWebhookReceiver({ secrets: [signingSecret] });
  const worker = spawnWorker({
    databaseUrl: db.url,
    leaseSeconds: 10,
    logFile: path.join(ctx.logDir, 'warehouse-midstream.log'),
  });
  const snapshotOf = async (syncId: string) => {
    const [row] = await store.query<{ n: string; digest: string | null }>(
      `select count(*) as n, md5(string_agg(pk || ':' || fingerprint, ',' order by pk)) as digest
       from sync_snapshots where sync_id = $1`,
      [syncId],
    );
    return `${row?.n}:${row?.digest}`;
  };
  try {
    await createContactsTable(warehouse.url, 'contacts', rows);
    const syncId = await insertSync(
      store,
      webhookSyncSpec(warehouse.url, `${receiver.url}/hooks`, 'select id, email, first_name from contacts'),
    );
    const first = await waitForRun(store, await enqueue(store, syncId), 120_000);
    const before = await snapshotOf(syncId);
    const requestsBefore = receiver.stats.requests;
    // Every row changes, so anything sent would show; the query dies at row 15,000 of 20,000.
    await createContactsTable(warehouse.url, 'contacts', rows, 2);
    await store.execute(`update models set sql = $2 where id = (select model_id from syncs where id = $1)`, [
      syncId,
      `select id, email, first_name from contacts
         where 1 / (case when id = 15000 then 0 else 1 end) = 1 order by id`,
    ]);
    const failed = await waitForRun(store, await enqueue(store, syncId), 120_000);
    const after = await snapshotOf(syncId);
    const sent = receiver.stats.requests - requestsBefore;
    const diff = compareMaps(expectedNames(rows, 1), receivedNames(receiver), (a, b) => a === b);
    const ok =
      first.status === 'succeeded' &&
      failed.status === 'failed' &&
      (failed.errorMessage ?? '').includes('division by zero') &&
      before === after &&
      sent === 0 &&
      diff.missing + diff.extra + diff.wrong === 0;
    return {
      ok,
      fields: {
        runs: 2,
        lost: diff.missing,
        duplicates: 0,
        status: failed.status,
        error: JSON.stringify(failed.errorMessage ?? ''),
        sent,
        snapshot_untouched: String(before === after),
      },
    };
  } finally {
    await worker.stop();
    await receiver.close();
    await store.close();
    await db.drop();
    await warehouse.drop();
  }
}
