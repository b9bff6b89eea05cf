import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../../src/db/postgres.ts';
import type { Store } from '../../../src/db/store.ts';
import { cancelRun, enqueueRun } from '../../../src/sync/queue.ts';
import { executeRun } from '../../../src/sync/run.ts';
import { claimNextRun, claimRun, startHeartbeat } from '../../../src/worker/lease.ts';
import { startWorker } from '../../../src/worker/worker.ts';
import { createTestStore, type TestStore } from '../../helpers/store.ts';
import { createHarness, expected, type Harness, type ModelRow, readRun } from './harness.ts';

let store: TestStore;
let harness: Harness | undefined;
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  store = await createTestStore();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await harness?.close();
  harness = undefined;
  await store.close();
});

const rows = (n: number, name = 'v1'): ModelRow[] =>
  Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `${name}-${i + 1}` }));

/** Polls until `check` holds, failing after the deadline; tests never sleep a fixed time. */
async function waitFor<T>(check: () => Promise<T | undefined | false>, deadlineMs = 45_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A second connection pool to the same database, standing in for another process (pg only). */
async function secondStore(): Promise<Store> {
  if (!store.url) return store;
  const other = await openPostgresStore({ url: store.url, max: 5 });
  cleanups.push(() => other.close());
  return other;
}

async function enqueue(syncId: string) {
  const queued = await enqueueRun(store, { syncId, trigger: 'api' });
  if (!queued.ok) throw new Error(queued.reason);
  return queued.run.id;
}

describe('crashes and leases', () => {
  it('re-sends after a crash between send and record without creating a second record (upsert)', async () => {
    harness = await createHarness(store, {
      rows: rows(12),
      destination: { maxBatchRecords: 4, maxConcurrent: 1 },
    });
    const runId = await enqueue(harness.syncId);
    const dead = new AbortController();
    harness.dest.knobs.crashAtWrite.add(2);
    harness.dest.knobs.onCrash = () => dead.abort();
    const claimed = await claimRun(store, runId, 'worker-a', 200);
    if (!claimed) throw new Error('not claimed');
    const crashed = await executeRun(harness.deps, claimed, dead.signal);
    expect(crashed).toEqual({ status: 'lease_lost' });
    // The destination holds batch 2, the outbox does not know it: the snapshot has only batch 1.
    expect(Object.keys(harness.contents())).toHaveLength(8);
    expect((await readRun(store, runId)).counts).toMatchObject({ accepted: 4, pending: 8 });

    const worker = startWorker({
      ...harness.deps,
      workerId: 'worker-b',
      concurrency: 1,
      pollIntervalMs: 20,
      leaseMs: 5000,
    });
    cleanups.push(() => worker.stop());
    const done = await waitFor(async () => {
      const run = await readRun(store, runId);
      return run.status === 'succeeded' && run;
    });
    expect(done.counts).toMatchObject({ accepted: 12, pending: 0 });
    expect(harness.contents()).toEqual(expected(rows(12)));
    // Resumed from the outbox: batch 1 was not sent again, batch 2 was (idempotently), once per key.
    const keysSent = harness.dest.writes.flatMap((w) => w.keys);
    expect(keysSent.filter((k) => k === '1')).toHaveLength(1);
    expect(keysSent.filter((k) => k === '5')).toHaveLength(2);
    expect([...harness.dest.creates.values()].every((n) => n === 1)).toBe(true);
    const [row] = await store.query<{ attempt: number; workerId: string }>(
      'select attempt, worker_id as "workerId" from sync_runs where id = $1',
      [runId],
    );
    expect(row).toEqual({ attempt: 2, workerId: 'worker-b' });
  });

  it('aborts locally, recording nothing more, when the heartbeat finds its lease taken', async () => {
    harness = await createHarness(store, {
      rows: rows(40),
      destination: { maxBatchRecords: 2, maxConcurrent: 1 },
    });
    harness.dest.knobs.latencyMs = 10;
    const runId = await enqueue(harness.syncId);
    const claimed = await claimRun(store, runId, 'worker-a', 150);
    if (!claimed) throw new Error('not claimed');
    const lost = new AbortController();
    const stopBeat = startHeartbeat(store, claimed, 150, lost, harness.deps.logger);
    const running = executeRun(harness.deps, claimed, lost.signal);
    await waitFor(async () => ((await readRun(store, runId)).counts?.accepted ?? 0) > 0);
    await store.execute(`update sync_runs set worker_id = 'worker-b' where id = $1`, [runId]);
    expect(await running).toEqual({ status: 'lease_lost' });
    stopBeat();
    const run = await readRun(store, runId);
    expect(run.status).toBe('running');
    expect((run.counts?.accepted ?? 0) + (run.counts?.pending ?? 0)).toBe(40);
    expect(run.counts?.pending).toBeGreaterThan(0);
  });

  it('hands a run back on graceful stop, and another worker finishes it', async () => {
    harness = await createHarness(store, {
      rows: rows(40),
      destination: { maxBatchRecords: 2, maxConcurrent: 1 },
    });
    harness.dest.knobs.latencyMs = 10;
    const runId = await enqueue(harness.syncId);
    const first = startWorker({
      ...harness.deps,
      workerId: 'worker-a',
      concurrency: 1,
      pollIntervalMs: 20,
      leaseMs: 5000,
    });
    await waitFor(async () => ((await readRun(store, runId)).counts?.accepted ?? 0) > 0);
    await first.stop();
    const handedBack = await store.query<{ status: string; workerId: string | null; pending: number }>(
      `select status, worker_id as "workerId", (counts->>'pending')::int as pending from sync_runs where id = $1`,
      [runId],
    );
    expect(handedBack[0]).toMatchObject({ status: 'queued', workerId: null });
    expect(handedBack[0]?.pending).toBeGreaterThan(0);

    const second = startWorker({
      ...harness.deps,
      workerId: 'worker-b',
      concurrency: 1,
      pollIntervalMs: 20,
      leaseMs: 5000,
    });
    cleanups.push(() => second.stop());
    await waitFor(async () => (await readRun(store, runId)).status === 'succeeded');
    expect(harness.contents()).toEqual(expected(rows(40)));
    expect(harness.dest.writes.flatMap((w) => w.keys)).toHaveLength(40);
  });

  it('hands a run back when stopped mid-planning', async () => {
    harness = await createHarness(store, { rows: rows(3) });
    const runId = await enqueue(harness.syncId);
    const slowPlanner: typeof harness.deps.planRun = (_store, input) =>
      new Promise((_resolve, reject) => {
        input.signal.addEventListener('abort', () => reject(new Error('planning interrupted')), {
          once: true,
        });
      });
    const worker = startWorker({
      ...harness.deps,
      planRun: slowPlanner,
      workerId: 'worker-a',
      concurrency: 1,
      pollIntervalMs: 20,
      leaseMs: 5000,
    });
    await waitFor(async () => (await readRun(store, runId)).phase === 'planning');
    await worker.stop();
    const run = await readRun(store, runId);
    expect(run).toMatchObject({ status: 'queued', errorCode: null });
    expect(harness.dest.writes).toHaveLength(0);
  });

  it('resumes a dead worker’s run once its lease expires', async () => {
    harness = await createHarness(store, {
      rows: rows(10),
      destination: { maxBatchRecords: 5, maxConcurrent: 1 },
    });
    const runId = await enqueue(harness.syncId);
    // A worker that claimed the run and died at once: its lease runs out, nobody renews it.
    expect(await claimRun(store, runId, 'worker-dead', 300)).toBeDefined();
    expect(await claimNextRun(store, 'worker-b', 5000)).toBeUndefined();
    const worker = startWorker({
      ...harness.deps,
      workerId: 'worker-b',
      concurrency: 1,
      pollIntervalMs: 20,
      leaseMs: 5000,
    });
    cleanups.push(() => worker.stop());
    await waitFor(async () => (await readRun(store, runId)).status === 'succeeded');
    expect(harness.contents()).toEqual(expected(rows(10)));
  });
});

describe('one active run per sync', () => {
  it('lets exactly one of many concurrent claimers take a queued run', async () => {
    harness = await createHarness(store, { rows: rows(1) });
    await enqueue(harness.syncId);
    const other = await secondStore();
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => claimNextRun(i % 2 ? store : other, `worker-${i}`, 5000)),
    );
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
  });

  it('two workers never run one sync at once', async () => {
    harness = await createHarness(store, {
      rows: rows(30),
      destination: { maxBatchRecords: 3, maxConcurrent: 2 },
    });
    harness.dest.knobs.latencyMs = 3;
    const other = await secondStore();
    const workers = [
      startWorker({
        ...harness.deps,
        workerId: 'worker-a',
        concurrency: 2,
        pollIntervalMs: 10,
        leaseMs: 5000,
      }),
      startWorker({
        ...harness.deps,
        store: other,
        workerId: 'worker-b',
        concurrency: 2,
        pollIntervalMs: 10,
        leaseMs: 5000,
      }),
    ];
    cleanups.push(async () => {
      for (const w of workers) await w.stop();
    });
    for (let i = 0; i < 6; i++) {
      await harness.setModel(rows(30, `v${i}`));
      const runId = await enqueue(harness.syncId);
      // A second enqueue while the run is active is refused by the database, in every process.
      expect(await enqueueRun(other, { syncId: harness.syncId, trigger: 'api' })).toMatchObject({
        ok: false,
        reason: 'active_run',
      });
      await waitFor(async () => (await readRun(store, runId)).status === 'succeeded');
    }
    expect(harness.dest.overlaps).toEqual([]);
    expect(harness.contents()).toEqual(expected(rows(30, 'v5')));
    const [attempts] = await store.query<{ max: number }>('select max(attempt)::int as max from sync_runs');
    expect(attempts?.max).toBe(1);
  });
});

describe('cancellation', () => {
  it('stops between batches, marks unsent records cancelled, and the next run sends them', async () => {
    harness = await createHarness(store, {
      rows: rows(60),
      destination: { maxBatchRecords: 2, maxConcurrent: 1 },
    });
    // Slow enough that the run outlasts delivery's cancel checks (every 500 ms), however fast the store.
    harness.dest.knobs.latencyMs = 40;
    const runId = await enqueue(harness.syncId);
    const worker = startWorker({
      ...harness.deps,
      workerId: 'worker-a',
      concurrency: 1,
      pollIntervalMs: 20,
      leaseMs: 5000,
    });
    cleanups.push(() => worker.stop());
    await waitFor(async () => ((await readRun(store, runId)).counts?.accepted ?? 0) > 0);
    expect(await cancelRun(store, runId)).toEqual({ ok: true, status: 'cancelling' });
    const run = await waitFor(async () => {
      const r = await readRun(store, runId);
      return r.status === 'cancelled' && r;
    });
    expect(run.errorCode).toBe('cancelled');
    const accepted = run.counts?.accepted ?? 0;
    expect(accepted).toBeLessThan(60);
    expect(run.counts).toMatchObject({ pending: 0, cancelled: 60 - accepted });
    expect(Object.keys(harness.contents())).toHaveLength(accepted);

    const next = await enqueue(harness.syncId);
    const done = await waitFor(async () => {
      const r = await readRun(store, next);
      return r.status === 'succeeded' && r;
    });
    expect(done.counts).toMatchObject({ accepted: 60 - accepted });
    expect(harness.contents()).toEqual(expected(rows(60)));
  });
});
