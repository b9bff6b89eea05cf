import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineConnector } from '../../../connectors/index.ts';
import { webhookConnector } from '../../../connectors/webhook/index.ts';
import { newId } from '../../../src/lib/ids.ts';
import { silentLogger } from '../../../src/logger.ts';
import { createSecretBox } from '../../../src/secrets/box.ts';
import { splitSecrets } from '../../../src/secrets/split.ts';
import type { EngineDeps } from '../../../src/sync/context.ts';
import { createLimiterRegistry, type LimiterRegistry } from '../../../src/sync/deliver/limiters.ts';
import type { Clock } from '../../../src/sync/deliver/retry.ts';
import { planRun } from '../../../src/sync/plan/index.ts';
import { enqueueRun } from '../../../src/sync/queue.ts';
import { duckdbDriver } from '../../../src/warehouses/duckdb.ts';
import { runNow } from '../../../src/worker/worker.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../emulators/webhook/server.ts';
import { createTestStore, type TestStore } from '../../helpers/store.ts';
import { secretA } from './helpers.ts';

/**
 * The whole engine against the receiver with injected faults: 10% 503s, 5% 429s with Retry-After and
 * 2% requests that are processed but never answered. After every add, change and remove cycle, the
 * receiver must hold exactly the model, and the only duplicates it saw are re-deliveries of requests
 * it processed without answering.
 */

type Row = { id: number; name: string };

let store: TestStore;
let receiver: WebhookReceiver | undefined;
let limiters: LimiterRegistry | undefined;

beforeEach(async () => {
  store = await createTestStore();
});
afterEach(async () => {
  await limiters?.close();
  await receiver?.close();
  await store.close();
  limiters = undefined;
  receiver = undefined;
});

/** Sleeps return at once and advance time, so retry waits (Retry-After included) cost nothing. */
function instantClock(): Clock & { sleeps: number[] } {
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

function modelSql(rows: readonly Row[]): string {
  const values = rows.map((r) => `(${r.id}, '${r.name}')`).join(', ');
  return `select * from (values ${values}) t(id, name)`;
}

const range = (from: number, to: number, name: string): Row[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, name: `${name}-${from + i}` }));

describe.each([
  { mode: 'one record per request', batchSize: 1, scale: 1 },
  { mode: 'batches of 7', batchSize: 7, scale: 4 },
])('webhook sync through the engine, $mode, with injected faults', ({ batchSize, scale }) => {
  it('ends every cycle with the receiver equal to the model', async () => {
    receiver = await startWebhookReceiver({
      secrets: [secretA],
      faults: {
        rates: { error: 0.1, throttle: 0.05, timeout: 0.02 },
        // Two certain timeouts besides the random ones, so every run exercises a processed-but-unanswered delivery.
        once: { '5': 'timeout', '23': 'timeout' },
        retryAfterSeconds: 1,
        seed: 42,
      },
    });
    const box = createSecretBox(Buffer.alloc(32, 9));
    const clock = instantClock();
    limiters = createLimiterRegistry();
    const deps: EngineDeps = {
      store,
      secrets: box,
      logger: silentLogger,
      connectors: { webhook: defineConnector(webhookConnector) },
      warehouses: { duckdb: duckdbDriver },
      limiters,
      planRun,
      config: { warehouseStatementTimeoutMs: 30_000, allowPrivateNetwork: true },
      retry: { maxAttempts: 10, baseMs: 10, capMs: 200, maxElapsedMs: 600_000 },
      clock,
    };
    const config = webhookConnector.configSchema.parse({
      url: `${receiver.url}/ebb`,
      signingSecret: secretA,
      batchSize,
      // Long enough that a loaded CI machine still answers in time: only held requests time out.
      timeoutMs: 1500,
      limits: { requestsPerInterval: 1000, intervalMs: 1000, maxConcurrent: 4 },
    });
    const stored = splitSecrets(
      config as unknown as Record<string, unknown>,
      webhookConnector.secretFields,
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
      `insert into destinations (id, name, kind, config, secrets) values ($1, $1, 'webhook', $2::jsonb, $3)`,
      [destinationId, JSON.stringify(stored.config), stored.secrets],
    );
    await store.execute(
      `insert into syncs (id, name, model_id, destination_id, object, mode, mappings, schedule,
         mass_delete_min_count)
       values ($1, $1, $2, $3, 'customers', 'mirror', $4::jsonb, '{"type":"manual"}', 1000)`,
      [syncId, modelId, destinationId, JSON.stringify([{ from: 'name', to: 'name' }])],
    );

    const statuses: string[] = [];
    async function syncUntilDone(rows: Row[]) {
      await store.execute('update models set sql = $2 where id = $1', [modelId, modelSql(rows)]);
      // Rows whose retries ran out are rejected and sent again by the next run (invariant 2).
      for (let attempt = 0; attempt < 4; attempt += 1) {
        const queued = await enqueueRun(store, { syncId, trigger: 'cli' });
        if (!queued.ok) throw new Error(`enqueue failed: ${queued.reason}`);
        const result = await runNow(deps, queued.run.id, { leaseMs: 30_000 });
        if (!result.ok) throw new Error(result.message);
        statuses.push(result.end.status);
        if (result.end.status === 'succeeded') break;
      }
      const expected = Object.fromEntries(rows.map((r) => [String(r.id), { name: r.name }]));
      expect(Object.fromEntries(receiver?.state ?? [])).toEqual(expected);
    }

    // Batches carry more records per request, so that mode gets a bigger model for as many faults.
    const n = (count: number) => count * scale;
    let rows = range(1, n(40), 'v1');
    await syncUntilDone(rows);
    rows = [...range(1, n(10), 'v2'), ...range(n(10) + 1, n(40), 'v1'), ...range(n(40) + 1, n(50), 'v1')];
    await syncUntilDone(rows);
    rows = rows.filter((r) => r.id <= n(20) || r.id > n(35));
    await syncUntilDone(rows);

    expect(statuses.at(-1)).toBe('succeeded');
    expect(receiver.stats.badSignatures).toBe(0);
    expect(receiver.stats.staleTimestamps).toBe(0);
    expect(receiver.stats.faults).toBeGreaterThan(0);
    expect(receiver.stats.duplicates).toBeGreaterThan(0);
    for (const id of receiver.duplicateIds) expect(receiver.unansweredIds.has(id)).toBe(true);
    if (receiver.requests.some((r) => r.status === 429)) {
      expect(Math.max(...clock.sleeps)).toBeGreaterThanOrEqual(1000);
    }
  });
});
