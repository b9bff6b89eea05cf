import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineConnector } from '../../../connectors/index.ts';
import { salesforceConnector } from '../../../connectors/salesforce/index.ts';
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
import { type SalesforceEmulator, startSalesforceEmulator } from '../../emulators/salesforce/server.ts';
import { createTestStore, type TestStore } from '../../helpers/store.ts';

/**
 * The whole engine (DuckDB model → plan → deliver) against the Salesforce emulator through jsforce,
 * with 20% 503s, 15% writes applied but never answered and 5% row-lock record errors. After every
 * add, change and remove cycle of a mirror sync, the org's Contacts must equal the model: one
 * Contact per primary key, no duplicates from retried upserts, removed rows deleted.
 */

type Row = { id: number; name: string; email: string };

let store: TestStore;
let sf: SalesforceEmulator | undefined;
let limiters: LimiterRegistry | undefined;

beforeEach(async () => {
  store = await createTestStore();
});
afterEach(async () => {
  await limiters?.close();
  await sf?.close();
  await store.close();
  limiters = undefined;
  sf = undefined;
});

/** Engine back-off sleeps return at once and advance time. */
function instantClock(): Clock {
  let now = Date.now();
  return {
    now: () => now,
    random: Math.random,
    async sleep(ms) {
      now += ms;
    },
  };
}

function modelSql(rows: readonly Row[]): string {
  return `select * from (values ${rows.map((r) => `(${r.id}, '${r.name}', '${r.email}')`).join(', ')}) t(id, name, email)`;
}

const range = (from: number, to: number, version: string): Row[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    id: from + i,
    name: `${version}-${from + i}`,
    email: `p${from + i}.${version}@example.com`,
  }));

describe.each([
  { path: 'sObject Collections', bulkThreshold: undefined },
  { path: 'Bulk API 2.0 above 25 records', bulkThreshold: 25 },
])('Salesforce mirror sync through the engine via $path, with injected faults', ({ bulkThreshold }) => {
  it('ends every cycle with the org equal to the model', async () => {
    const emulator = await startSalesforceEmulator({
      faults: { serverErrorRate: 0.2, timeoutRate: 0.15, recordErrorRate: 0.05, hangMs: 1000 },
      seed: 11,
    });
    sf = emulator;
    const box = createSecretBox(Buffer.alloc(32, 5));
    limiters = createLimiterRegistry();
    const deps: EngineDeps = {
      store,
      secrets: box,
      logger: silentLogger,
      connectors: { salesforce: defineConnector(salesforceConnector) },
      warehouses: { duckdb: duckdbDriver },
      limiters,
      planRun,
      config: { warehouseStatementTimeoutMs: 30_000, allowPrivateNetwork: true },
      retry: { maxAttempts: 10, baseMs: 10, capMs: 200, maxElapsedMs: 600_000 },
      clock: instantClock(),
    };
    const config = salesforceConnector.configSchema.parse({
      instanceUrl: emulator.url,
      loginUrl: emulator.url,
      accessToken: emulator.accessToken,
      refreshToken: emulator.refreshToken,
      clientId: emulator.clientId,
      clientSecret: emulator.clientSecret,
      requestTimeoutMs: 250,
      bulkPollIntervalMs: 10,
      bulkBatchRecords: 40,
      ...(bulkThreshold ? { bulkThreshold } : {}),
      limits: { requestsPerInterval: 1000, intervalMs: 1000, maxConcurrent: 1 },
    });
    const stored = splitSecrets(
      config as unknown as Record<string, unknown>,
      salesforceConnector.secretFields,
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
      `insert into destinations (id, name, kind, config, secrets) values ($1, $1, 'salesforce', $2::jsonb, $3)`,
      [destinationId, JSON.stringify(stored.config), stored.secrets],
    );
    await store.execute(
      `insert into syncs (id, name, model_id, destination_id, object, mode, identifier, mappings, schedule,
         mass_delete_max_share)
       values ($1, $1, $2, $3, 'Contact', 'mirror', $4::jsonb, $5::jsonb, '{"type":"manual"}', 1)`,
      [
        syncId,
        modelId,
        destinationId,
        JSON.stringify({ from: 'id', to: 'Ext_Id__c' }),
        JSON.stringify([
          { from: 'name', to: 'LastName' },
          { from: 'email', to: 'Email' },
        ]),
      ],
    );

    const statuses: string[] = [];
    async function syncUntilDone(rows: Row[]) {
      await store.execute('update models set sql = $2 where id = $1', [modelId, modelSql(rows)]);
      // Rows whose in-run retries ran out stay out of the snapshot and are sent by the next run.
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const queued = await enqueueRun(store, { syncId, trigger: 'cli' });
        if (!queued.ok) throw new Error(`enqueue failed: ${queued.reason}`);
        const result = await runNow(deps, queued.run.id, { leaseMs: 30_000 });
        if (!result.ok) throw new Error(result.message);
        statuses.push(result.end.status);
        if (result.end.status === 'succeeded') break;
      }
      const contacts = emulator
        .records('Contact')
        .map((r) => [r.Ext_Id__c, { LastName: r.LastName, Email: r.Email }]);
      const expected = rows.map((r) => [String(r.id), { LastName: r.name, Email: r.email }]);
      expect(contacts).toHaveLength(rows.length);
      expect(Object.fromEntries(contacts)).toEqual(Object.fromEntries(expected));
    }

    let rows = range(1, 60, 'v1');
    await syncUntilDone(rows);
    rows = [...range(1, 15, 'v2'), ...range(16, 60, 'v1'), ...range(61, 90, 'v1')];
    await syncUntilDone(rows);
    rows = rows.filter((r) => r.id <= 30 || r.id > 58);
    await syncUntilDone(rows);

    expect(statuses.at(-1)).toBe('succeeded');
    // Faults are drawn at random per request; the seed and one request at a time keep the draw stable.
    const { serverErrors, timeouts, recordErrors } = emulator.faultCounts;
    expect(serverErrors + timeouts + recordErrors).toBeGreaterThan(0);
    if (bulkThreshold)
      expect(emulator.requests.some((r) => r.startsWith('PUT') && r.endsWith('/batches'))).toBe(true);
  });
});
