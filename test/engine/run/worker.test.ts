import { describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../../src/db/postgres.ts';
import type { Store } from '../../../src/db/store.ts';
import type { EngineDeps } from '../../../src/sync/context.ts';
import { cancelRun, enqueueRun } from '../../../src/sync/queue.ts';
import { executeRun } from '../../../src/sync/run.ts';
import { claimNextRun, claimRun, startHeartbeat } from '../../../src/worker/lease.ts';
import { startWorker, type WorkerOptions } from '../../../src/worker/worker.ts';
import { storePerTest } from '../../helpers/per-test.ts';
import { expected, harnessFor, readRun, rows } from './harness.ts';

const env = storePerTest();

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
  if (!env.store.url) return env.store;
  const other = await openPostgresStore({ url: env.store.url, max: 5 });
  env.defer(() => other.close());
  return other;
}

/** A worker on the harness's engine that polls every 20 ms, so a test waits on its run, not on polling. */
function startTestWorker(
  deps: EngineDeps,
  workerId: string,
  overrides: Partial<EngineDeps & WorkerOptions> = {},
) {
  return startWorker({ ...deps, workerId, concurrency: 1, pollIntervalMs: 20, leaseMs: 5000, ...overrides });
}

async function enqueue(syncId: string) {
  const queued = await enqueueRun(env.store, { syncId, trigger: 'api' });
  if (!queued.ok) throw new Error(queued.reason);
  return queued.run.id;
}

describe('crashes and leases', () => {
  it('re-sends after a crash between send and record without creating a second record (upsert)', async () => {
    const harness = await harnessFor(env, {
      rows: rows(12),
      destination: { maxBatchRecords: 4, maxConcurrent: 1 },
    });
    const runId = await enqueue(harness.syncId);
    const dead = new AbortController();
    harness.dest.knobs.crashAtWrite.add(2);
    harness.dest.knobs.onCrash = () => dead.abort();
    const claimed = await claimRun(env.store, runId, 'worker-a', 200);
    if (!claimed) throw new Error('not claimed');
    const crashed = await executeRun(harness.deps, claimed, dead.signal);
    expect(crashed).toEqual({ status: 'lease_lost' });
    // The destination holds batch 2, the outbox does not know it: the snapshot has only batch 1.
    expect(Object.keys(harness.contents())).toHaveLength(8);
    expect((await readRun(env.store, runId)).counts).toMatchObject({ accepted: 4, pending: 8 });

    const worker = startTestWorker(harness.deps, 'worker-b');
    env.defer(() => worker.stop());
    const done = await waitFor(async () => {
      const run = await readRun(env.store, runId);
      return run.status === 'succeeded' && run;
    });
    expect(done.counts).toMatchObject({ accepted: 12, pending: 0 });
    expect(harness.contents()).toEqual(expected(rows(12)));
    // Resumed from the outbox: batch 1 was not sent again, batch 2 was (idempotently), once per key.
    const keysSent = harness.dest.writes.flatMap((w) => w.keys);
    expect(keysSent.filter((k) => k === '1')).toHaveLength(1);
    expect(keysSent.filter((k) => k === '5')).toHaveLength(2);
    expect([...harness.dest.creates.values()].every((n) => n === 1)).toBe(true);
    const [row] = await env.store.query<{ attempt: number; workerId: string }>(
      'select attempt, worker_id as "workerId" from sync_runs where id = $1',
      [runId],
    );
    expect(row).toEqual({ attempt: 2, workerId: 'worker-b' });
  });

  it('mirror: a record a crashed attempt created is deleted later, even if the resumed attempt is refused', async () => {
    const harness = await harnessFor(env, {
      mode: 'mirror',
      rows: rows(4),
      destination: { maxBatchRecords: 4, maxConcurrent: 1 },
    });
    const runId = await enqueue(harness.syncId);
    const dead = new AbortController();
    harness.dest.knobs.crashAtWrite.add(1);
    harness.dest.knobs.onCrash = () => dead.abort();
    const claimed = await claimRun(env.store, runId, 'worker-a', 100);
    if (!claimed) throw new Error('not claimed');
    expect(await executeRun(harness.deps, claimed, dead.signal)).toEqual({ status: 'lease_lost' });
    expect(Object.keys(harness.contents())).toHaveLength(4);

    // The resumed attempt's re-send of key 2 is refused; the destination still holds it.
    harness.dest.knobs.rejectKeys.add('2');
    await env.store.execute(
      `update sync_runs set lease_expires_at = now() - interval '1 second' where id = $1`,
      [runId],
    );
    const resumed = await claimRun(env.store, runId, 'worker-b', 30_000);
    if (!resumed) throw new Error('not resumed');
    expect(await executeRun(harness.deps, resumed, new AbortController().signal)).toMatchObject({
      status: 'partial',
    });
    harness.dest.knobs.rejectKeys.clear();
    const kept = rows(4).filter((r) => r.id !== 2);
    await harness.setModel(kept);
    expect((await harness.run()).end.status).toBe('succeeded');
    expect(harness.contents()).toEqual(expected(kept));
  });

  it('aborts locally, recording nothing more, when the heartbeat finds its lease taken', async () => {
    const harness = await harnessFor(env, {
      rows: rows(40),
      destination: { maxBatchRecords: 2, maxConcurrent: 1 },
    });
    harness.dest.knobs.latencyMs = 10;
    const runId = await enqueue(harness.syncId);
    const claimed = await claimRun(env.store, runId, 'worker-a', 150);
    if (!claimed) throw new Error('not claimed');
    const lost = new AbortController();
    const stopBeat = startHeartbeat(env.store, claimed, 150, lost, harness.deps.logger);
    const running = executeRun(harness.deps, claimed, lost.signal);
    await waitFor(async () => ((await readRun(env.store, runId)).counts?.accepted ?? 0) > 0);
    await env.store.execute(`update sync_runs set worker_id = 'worker-b' where id = $1`, [runId]);
    expect(await running).toEqual({ status: 'lease_lost' });
    stopBeat();
    const run = await readRun(env.store, runId);
    expect(run.status).toBe('running');
    expect((run.counts?.accepted ?? 0) + (run.counts?.pending ?? 0)).toBe(40);
    expect(run.counts?.pending).toBeGreaterThan(0);
  });

  it('hands a run back on graceful stop, and another worker finishes it', async () => {
    const harness = await harnessFor(env, {
      rows: rows(40),
      destination: { maxBatchRecords: 2, maxConcurrent: 1 },
    });
    harness.dest.knobs.latencyMs = 10;
    const runId = await enqueue(harness.syncId);
    const first = startTestWorker(harness.deps, 'worker-a');
    await waitFor(async () => ((await readRun(env.store, runId)).counts?.accepted ?? 0) > 0);
    await first.stop();
    const handedBack = await env.store.query<{ status: string; workerId: string | null; pending: number }>(
      `select status, worker_id as "workerId", (counts->>'pending')::int as pending from sync_runs where id = $1`,
      [runId],
    );
    expect(handedBack[0]).toMatchObject({ status: 'queued', workerId: null });
    expect(handedBack[0]?.pending).toBeGreaterThan(0);

    const second = startTestWorker(harness.deps, 'worker-b');
    env.defer(() => second.stop());
    await waitFor(async () => (await readRun(env.store, runId)).status === 'succeeded');
    expect(harness.contents()).toEqual(expected(rows(40)));
    expect(harness.dest.writes.flatMap((w) => w.keys)).toHaveLength(40);
  });

  it('hands a run back when stopped mid-planning', async () => {
    const harness = await harnessFor(env, { rows: rows(3) });
    const runId = await enqueue(harness.syncId);
    const slowPlanner: typeof harness.deps.planRun = (_store, input) =>
      new Promise((_resolve, reject) => {
        input.signal.addEventListener('abort', () => reject(new Error('planning interrupted')), {
          once: true,
        });
      });
    const worker = startTestWorker(harness.deps, 'worker-a', { planRun: slowPlanner });
    await waitFor(async () => (await readRun(env.store, runId)).phase === 'planning');
    await worker.stop();
    const run = await readRun(env.store, runId);
    expect(run).toMatchObject({ status: 'queued', errorCode: null });
    expect(harness.dest.writes).toHaveLength(0);
  });

  it('resumes a dead worker’s run once its lease expires', async () => {
    const harness = await harnessFor(env, {
      rows: rows(10),
      destination: { maxBatchRecords: 5, maxConcurrent: 1 },
    });
    const runId = await enqueue(harness.syncId);
    // A worker that claimed the run and died at once: its lease runs out, nobody renews it.
    expect(await claimRun(env.store, runId, 'worker-dead', 300)).toBeDefined();
    expect(await claimNextRun(env.store, 'worker-b', 5000)).toBeUndefined();
    const worker = startTestWorker(harness.deps, 'worker-b');
    env.defer(() => worker.stop());
    await waitFor(async () => (await readRun(env.store, runId)).status === 'succeeded');
    expect(harness.contents()).toEqual(expected(rows(10)));
  });
});

describe('one active run per sync', () => {
  it('lets exactly one of many concurrent claimers take a queued run', async () => {
    const harness = await harnessFor(env, { rows: rows(1) });
    await enqueue(harness.syncId);
    const other = await secondStore();
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => claimNextRun(i % 2 ? env.store : other, `worker-${i}`, 5000)),
    );
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
  });

  it('two workers never run one sync at once', async () => {
    const harness = await harnessFor(env, {
      rows: rows(30),
      destination: { maxBatchRecords: 3, maxConcurrent: 2 },
    });
    harness.dest.knobs.latencyMs = 3;
    const other = await secondStore();
    const workers = [
      startTestWorker(harness.deps, 'worker-a', { concurrency: 2, pollIntervalMs: 10 }),
      startTestWorker(harness.deps, 'worker-b', { store: other, concurrency: 2, pollIntervalMs: 10 }),
    ];
    env.defer(async () => {
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
      await waitFor(async () => (await readRun(env.store, runId)).status === 'succeeded');
    }
    expect(harness.dest.overlaps).toEqual([]);
    expect(harness.contents()).toEqual(expected(rows(30, 'v5')));
    const [attempts] = await env.store.query<{ max: number }>(
      'select max(attempt)::int as max from sync_runs',
    );
    expect(attempts?.max).toBe(1);
  });
});

describe('cancellation', () => {
  it('stops between batches, marks unsent records cancelled, and the next run sends them', async () => {
    const harness = await harnessFor(env, {
      rows: rows(60),
      destination: { maxBatchRecords: 2, maxConcurrent: 1 },
    });
    // Slow enough that the run outlasts delivery's cancel checks (every 500 ms), however fast the store.
    harness.dest.knobs.latencyMs = 40;
    const runId = await enqueue(harness.syncId);
    const worker = startTestWorker(harness.deps, 'worker-a');
    env.defer(() => worker.stop());
    await waitFor(async () => ((await readRun(env.store, runId)).counts?.accepted ?? 0) > 0);
    expect(await cancelRun(env.store, runId)).toEqual({ ok: true, status: 'cancelling' });
    const run = await waitFor(async () => {
      const r = await readRun(env.store, runId);
      return r.status === 'cancelled' && r;
    });
    expect(run.errorCode).toBe('cancelled');
    const accepted = run.counts?.accepted ?? 0;
    expect(accepted).toBeLessThan(60);
    expect(run.counts).toMatchObject({ pending: 0, cancelled: 60 - accepted });
    expect(Object.keys(harness.contents())).toHaveLength(accepted);

    const next = await enqueue(harness.syncId);
    const done = await waitFor(async () => {
      const r = await readRun(env.store, next);
      return r.status === 'succeeded' && r;
    });
    expect(done.counts).toMatchObject({ accepted: 60 - accepted });
    expect(harness.contents()).toEqual(expected(rows(60)));
  });
});
