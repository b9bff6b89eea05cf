import { describe, expect, it } from 'vitest';
import { webhookConnector } from '../../../connectors/webhook/index.ts';
import { startWebhookReceiver } from '../../emulators/webhook/server.ts';
import { storePerTest } from '../../helpers/per-test.ts';
import { connectorSyncFor, type Row, range } from '../connector-sync.ts';
import { secretA } from './helpers.ts';

/**
 * The whole engine against the receiver with injected faults: 10% 503s, 5% 429s with Retry-After and
 * 2% requests that are processed but never answered. After every add, change and remove cycle, the
 * receiver must hold exactly the model, and the only duplicates it saw are re-deliveries of requests
 * it processed without answering.
 */

const env = storePerTest();

describe.each([
  { mode: 'one record per request', batchSize: 1, scale: 1 },
  { mode: 'batches of 7', batchSize: 7, scale: 4 },
])('webhook sync through the engine, $mode, with injected faults', ({ batchSize, scale }) => {
  it('ends every cycle with the receiver equal to the model', async () => {
    const receiver = env.own(
      await startWebhookReceiver({
        secrets: [secretA],
        faults: {
          rates: { error: 0.1, throttle: 0.05, timeout: 0.02 },
          // Two certain timeouts besides the random ones, so every run has a processed-but-unanswered delivery.
          once: { '5': 'timeout', '23': 'timeout' },
          retryAfterSeconds: 1,
          seed: 42,
        },
      }),
    );
    const sync = await connectorSyncFor(env, {
      connector: webhookConnector,
      config: webhookConnector.configSchema.parse({
        url: `${receiver.url}/ebb`,
        signingSecret: secretA,
        batchSize,
        // Long enough that a loaded CI machine still answers in time: only held requests time out.
        timeoutMs: 1500,
        limits: { requestsPerInterval: 1000, intervalMs: 1000, maxConcurrent: 4 },
      }),
    });

    const statuses: string[] = [];
    const cycle = async (rows: Row[]) => {
      statuses.push(...(await sync.runUntilDone(rows)));
      const expected = Object.fromEntries(rows.map((r) => [String(r.id), { name: r.name }]));
      expect(Object.fromEntries(receiver.state)).toEqual(expected);
    };
    // Batches carry more records per request, so that mode gets a bigger model for as many faults.
    const n = (count: number) => count * scale;
    let rows = range(1, n(40), 'v1');
    await cycle(rows);
    rows = [...range(1, n(10), 'v2'), ...range(n(10) + 1, n(40), 'v1'), ...range(n(40) + 1, n(50), 'v1')];
    await cycle(rows);
    rows = rows.filter((r) => r.id <= n(20) || r.id > n(35));
    await cycle(rows);

    expect(statuses.at(-1)).toBe('succeeded');
    expect(receiver.stats.badSignatures).toBe(0);
    expect(receiver.stats.staleTimestamps).toBe(0);
    expect(receiver.stats.faults).toBeGreaterThan(0);
    expect(receiver.stats.duplicates).toBeGreaterThan(0);
    for (const id of receiver.duplicateIds) expect(receiver.unansweredIds.has(id)).toBe(true);
    if (receiver.requests.some((r) => r.status === 429)) {
      expect(Math.max(...sync.clock.sleeps)).toBeGreaterThanOrEqual(1000);
    }
  });

  it('pauses the sync when the receiver answers 410 Gone', async () => {
    const receiver = env.own(
      await startWebhookReceiver({ secrets: [secretA], faults: { forKeys: { '3': 'gone' } } }),
    );
    const sync = await connectorSyncFor(env, {
      connector: webhookConnector,
      config: webhookConnector.configSchema.parse({ url: receiver.url, signingSecret: secretA, batchSize }),
    });
    const { end } = await sync.run(range(1, 5, 'v1'));
    expect(end).toMatchObject({ status: 'failed', errorCode: 'destination_fatal' });
    const [row] = await env.store.query<{ pausedReason: string | null }>(
      'select paused_reason as "pausedReason" from syncs where id = $1',
      [sync.syncId],
    );
    expect(row?.pausedReason).toMatch(/410 Gone/);
    const again = await sync.run(range(1, 5, 'v1'));
    expect(again.end).toMatchObject({ status: 'failed', errorCode: 'sync_paused' });
  });
});
