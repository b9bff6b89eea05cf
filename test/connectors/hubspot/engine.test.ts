import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/sync/deliver/retry.ts';
import { type HubspotEmulator, startHubspotEmulator } from '../../emulators/hubspot/server.ts';
import { createTestStore, type TestStore } from '../../helpers/store.ts';
import {
  contactsSql,
  createHubspotSync,
  expectedContacts,
  type HubspotSync,
  type ModelShape,
} from './engine-harness.ts';

let store: TestStore | undefined;
let emulator: HubspotEmulator | undefined;
let sync: HubspotSync | undefined;
afterEach(async () => {
  await sync?.close();
  await emulator?.close();
  await store?.close();
  sync = undefined;
  emulator = undefined;
  store = undefined;
});

/** Back-off sleeps return at once (the limiter still runs on real time), so retries cost no wall time. */
const instantClock: Clock = {
  now: () => Date.now(),
  random: () => 0.5,
  sleep: async () => {},
};

function contactsIn(emulator: HubspotEmulator): Map<string, string> {
  const out = new Map<string, string>();
  for (const record of emulator.crm.list('contacts')) {
    out.set(record.properties.email ?? `<no email ${record.id}>`, record.properties.firstname ?? '');
  }
  return out;
}

describe('HubSpot end to end through the engine, under injected faults', () => {
  it('adds, changes and removes contacts until HubSpot equals the model, never over the rate limit', async () => {
    store = await createTestStore();
    const limit = { max: 8, intervalMs: 1000 };
    emulator = await startHubspotEmulator({
      seed: 42,
      rateLimit: limit,
      latencyMs: { min: 2, max: 15 },
      faults: { rate429: 0.08, rate5xx: 0.08, rateTimeout: 0.04, applyBeforeTimeout: true },
    });
    let shape: ModelShape = { n: 1000, version: 1, bad: true, drop: false };
    sync = await createHubspotSync(store, emulator, {
      sql: contactsSql(shape),
      mode: 'mirror',
      destination: {
        requestTimeoutMs: 400,
        limits: { requestsPerInterval: limit.max, intervalMs: limit.intervalMs, maxConcurrent: 4 },
      },
      clock: instantClock,
      retry: { maxAttempts: 8, baseMs: 10, capMs: 100, maxElapsedMs: 600_000 },
    });
    const current = sync;
    const live = emulator;

    /** Runs until a run has nothing but HubSpot's own rejections (the bad emails) left to resend. */
    async function converge(expectedRejected: number) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const { end, counts } = await current.run();
        expect(['succeeded', 'partial']).toContain(end.status);
        if ((counts?.rejected ?? 0) === expectedRejected && counts?.pending === 0) return counts;
      }
      throw new Error('the sync did not converge in 5 runs');
    }

    // Add: 1000 rows, 10 with an email HubSpot refuses.
    const added = await converge(10);
    expect(added?.accepted).toBeGreaterThan(0);
    expect(contactsIn(live)).toEqual(expectedContacts(shape));

    // Change: every tenth first name; the bad emails are corrected.
    shape = { ...shape, version: 2, bad: false };
    await current.setModelSql(contactsSql(shape));
    await converge(0);
    expect(contactsIn(live)).toEqual(expectedContacts(shape));

    // Remove: every seventh row leaves the model; mirror archives those contacts.
    shape = { ...shape, drop: true };
    await current.setModelSql(contactsSql(shape));
    await converge(0);
    expect(contactsIn(live)).toEqual(expectedContacts(shape));
    expect(live.crm.list('contacts')).toHaveLength(1000 - Math.floor(1000 / 7));

    expect(
      live.stats.injected.rate429 + live.stats.injected.rate5xx + live.stats.injected.timeout,
    ).toBeGreaterThan(0);
    // The engine's limiter kept every rolling window within HubSpot's limit: no request ever arrived
    // beyond it, so HubSpot itself never had to refuse one.
    expect(
      live.stats.maxInWindow,
      'requests HubSpot received within one rolling window; a limiter refilled at fixed intervals lets ' +
        'up to twice the limit through around each refill',
    ).toBeLessThanOrEqual(limit.max);
    expect(live.stats.rateLimited).toBe(0);
  });
});
