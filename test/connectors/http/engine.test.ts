import { describe, expect, it } from 'vitest';
import { httpConnector } from '../../../connectors/http/index.ts';
import { type BatchApiOptions, createBatchApiHandler } from '../../emulators/webhook/batch-api.ts';
import { startWebhookReceiver } from '../../emulators/webhook/server.ts';
import { storePerTest } from '../../helpers/per-test.ts';
import { connectorSyncFor, range } from '../connector-sync.ts';

const env = storePerTest();

async function recordsWith(status: string) {
  return env.store.query<{ pk: string; reason: string | null }>(
    `select pk, reason from run_records where status = $1 order by pk::int`,
    [status],
  );
}

describe('batch HTTP sync through the engine', () => {
  it('isolates records that make a batch invalid, keeps per-record refusals, and sends the rest', async () => {
    const api: BatchApiOptions = {
      resultsKey: 'results',
      invalidKeys: ['7'],
      failKeys: { '12': 'name is reserved' },
      requireAuthorization: 'Bearer api-key',
    };
    const receiver = env.own(
      await startWebhookReceiver({
        dedupe: false,
        handler: createBatchApiHandler(api),
        faults: { rates: { error: 0.1, throttle: 0.05 }, retryAfterSeconds: 1, seed: 3 },
      }),
    );
    const sync = await connectorSyncFor(env, {
      connector: httpConnector,
      config: httpConnector.configSchema.parse({
        url: `${receiver.url}/v1/batch`,
        authorization: 'Bearer api-key',
        maxBatchRecords: 8,
        results: { path: 'results', keyField: 'id', statusField: 'status', errorField: 'error' },
        limits: { requestsPerInterval: 1000, intervalMs: 1000, maxConcurrent: 2 },
      }),
    });
    const rows = range(1, 30, 'v1');
    const { end } = await sync.run(rows);
    expect(end.status).toBe('partial');
    expect(await recordsWith('rejected')).toEqual([
      { pk: '7', reason: 'HTTP 400: {"error":"invalid records: 7"}' },
      { pk: '12', reason: 'name is reserved' },
    ]);
    const expected = Object.fromEntries(
      rows.filter((r) => r.id !== 7 && r.id !== 12).map((r) => [String(r.id), { name: r.name }]),
    );
    expect(Object.fromEntries(receiver.state)).toEqual(expected);

    // Fixed at the destination: the next run sends exactly the two rejected rows, and they land.
    api.invalidKeys = [];
    api.failKeys = {};
    receiver.setFaults({});
    const before = receiver.requests.length;
    const second = await sync.run(rows);
    expect(second.end.status).toBe('succeeded');
    const sent = receiver.requests
      .slice(before)
      .flatMap((r) => (r.json as { records: { id: string }[] }).records.map((x) => x.id));
    expect(sent.sort()).toEqual(['12', '7']);
    expect(Object.fromEntries(receiver.state)).toEqual(
      Object.fromEntries(rows.map((r) => [String(r.id), { name: r.name }])),
    );
  });
});
