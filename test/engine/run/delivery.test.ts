import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../helpers/gc.ts';
import { storePerTest } from '../../helpers/per-test.ts';
import { expected, harnessFor, rows } from './harness.ts';

const env = storePerTest();

async function recordsOf(runId: string, status: string) {
  return env.store.query<{ pk: string; reason: string | null; attempts: number }>(
    `select pk, reason, attempts from run_records where run_id = $1 and status = $2 order by pk::int`,
    [runId, status],
  );
}

describe('delivery outcomes', () => {
  it('lets go of delivered records while the run goes on: memory is bounded by batches, not the run', async () => {
    const harness = await harnessFor(env, { rows: rows(3000), destination: { maxBatchRecords: 10 } });
    const early: WeakRef<object>[] = [];
    let held: number | undefined;
    // A real request returns to the event loop; only then are new WeakRefs' targets released to the GC.
    harness.dest.knobs.latencyMs = 1;
    harness.dest.knobs.observe = (batch, writeNumber) => {
      // The first page's first records, then, three pages later, how many of them are still reachable.
      if (writeNumber <= 5) for (const change of batch) early.push(new WeakRef(change.fields));
      if (writeNumber === 250) {
        collectGarbage();
        held = early.filter((ref) => ref.deref() !== undefined).length;
      }
    };
    const { end } = await harness.run();
    expect(end.status).toBe('succeeded');
    expect(early).toHaveLength(50);
    expect(held).toBe(0);
  });

  it('keeps rejected rows out of the snapshot, so they come back next run', async () => {
    const harness = await harnessFor(env, { rows: rows(6) });
    harness.dest.knobs.rejectKeys.add('2');
    const first = await harness.run();
    expect(first.end.status).toBe('partial');
    expect(first.row.counts).toMatchObject({ accepted: 5, rejected: 1, pending: 0 });
    expect(await recordsOf(first.runId, 'rejected')).toEqual([
      { pk: '2', reason: 'rejected 2', attempts: 1 },
    ]);

    harness.dest.knobs.rejectKeys.clear();
    const writes = harness.dest.writes.length;
    const second = await harness.run();
    expect(second.end.status).toBe('succeeded');
    expect(harness.dest.writes.slice(writes).flatMap((w) => w.keys)).toEqual(['2']);
    expect(harness.contents()).toEqual(expected(rows(6)));
  });

  it('splits a refused batch until exactly the bad records are isolated', async () => {
    const harness = await harnessFor(env, { rows: rows(20), destination: { maxBatchRecords: 10 } });
    harness.dest.knobs.poisonKeys = new Set(['4', '13']);
    const { runId, end, row } = await harness.run();
    expect(end.status).toBe('partial');
    const rejected = await recordsOf(runId, 'rejected');
    expect(rejected.map((r) => [r.pk, r.reason])).toEqual([
      ['4', 'batch refused: invalid input'],
      ['13', 'batch refused: invalid input'],
    ]);
    expect(row.counts).toMatchObject({ accepted: 18, rejected: 2 });
    const good = expected(rows(20));
    delete good['4'];
    delete good['13'];
    expect(harness.contents()).toEqual(good);
  });

  it('stops on a spent quota: partial, the rest stays pending, and the next run finishes it', async () => {
    const harness = await harnessFor(env, {
      rows: rows(20),
      destination: { maxBatchRecords: 5, maxConcurrent: 1 },
    });
    harness.dest.knobs.failAt.set(3, { kind: 'quota', reason: 'daily limit reached' });
    const first = await harness.run();
    expect(first.end).toMatchObject({ status: 'partial', errorCode: 'quota_exhausted' });
    expect(first.row.errorMessage).toContain('daily limit reached');
    expect(first.row.counts).toMatchObject({ accepted: 10, pending: 10, rejected: 0 });
    expect(Object.keys(harness.contents())).toHaveLength(10);

    const second = await harness.run();
    expect(second.end.status).toBe('succeeded');
    expect(second.row.counts).toMatchObject({ accepted: 10 });
    expect(harness.contents()).toEqual(expected(rows(20)));
    expect([...harness.dest.creates.values()].every((n) => n === 1)).toBe(true);
  });

  it('retries with full jitter, waits at least Retry-After, and rejects once retries are exhausted', async () => {
    const harness = await harnessFor(env, { rows: rows(3) });
    harness.dest.knobs.failNext = [
      { kind: 'retry', reason: '429 Too Many Requests', waitMs: 5000 },
      { kind: 'retry', reason: '503 Service Unavailable' },
    ];
    const ok = await harness.run();
    expect(ok.end.status).toBe('succeeded');
    // random() = 0.5: the jitter is half the ceiling (base 100 ms · 2^retry), Retry-After wins when longer.
    expect(harness.clock.sleeps).toEqual([5000, 100]);
    expect(harness.contents()).toEqual(expected(rows(3)));

    await harness.setModel(rows(3, 'v2'));
    harness.clock.sleeps.length = 0;
    harness.dest.knobs.failNext = Array.from({ length: 10 }, () => ({
      kind: 'retry' as const,
      reason: '503 Service Unavailable',
    }));
    const exhausted = await harness.run();
    expect(exhausted.end.status).toBe('partial');
    const rejected = await recordsOf(exhausted.runId, 'rejected');
    expect(rejected).toHaveLength(3);
    expect(rejected.every((r) => r.reason === 'retries exhausted: 503 Service Unavailable')).toBe(true);
    expect(rejected.every((r) => r.attempts === 4)).toBe(true);
    expect(harness.clock.sleeps).toEqual([50, 100, 200]);
  });

  it('retries only the records the destination answered as retryable', async () => {
    const harness = await harnessFor(env, { rows: rows(4) });
    harness.dest.knobs.retryableKeys.set('3', { times: 1, waitMs: 1500 });
    const { runId, end } = await harness.run();
    expect(end.status).toBe('succeeded');
    expect(harness.dest.writes.map((w) => w.keys.sort())).toEqual([['1', '2', '3', '4'], ['3']]);
    expect(harness.clock.sleeps).toEqual([1500]);
    const accepted = await recordsOf(runId, 'accepted');
    expect(accepted.find((r) => r.pk === '3')?.attempts).toBe(2);
  });

  it('treats an outcome the connector left out as a bug: retried, then rejected with the reason', async () => {
    const harness = await harnessFor(env, { rows: rows(3) });
    harness.dest.knobs.omitKeys.add('2');
    const { runId, end } = await harness.run();
    expect(end.status).toBe('partial');
    expect(await recordsOf(runId, 'rejected')).toEqual([
      {
        pk: '2',
        reason: 'retries exhausted: the connector returned no outcome for this record',
        attempts: 4,
      },
    ]);
    expect(await recordsOf(runId, 'accepted')).toHaveLength(2);
  });

  it('mirror: a record sent without a clear answer is deleted once it leaves the model', async () => {
    const harness = await harnessFor(env, {
      mode: 'mirror',
      rows: rows(3),
      massDelete: { share: 1, min: 1000 },
    });
    // The destination applies 2 but never says so: the engine cannot know it holds it.
    harness.dest.knobs.omitKeys.add('2');
    expect((await harness.run()).end.status).toBe('partial');
    expect(Object.keys(harness.contents())).toEqual(['1', '2', '3']);
    harness.dest.knobs.omitKeys.clear();
    const model = rows(3).filter((r) => r.id !== 2);
    await harness.setModel(model);
    const second = await harness.run();
    expect(second.end.status).toBe('succeeded');
    expect(second.row.counts).toMatchObject({ accepted: 1, planned: { delete: 1 } });
    expect(harness.contents()).toEqual(expected(model));
  });

  it('ignores an outcome for a record the connector was not sent', async () => {
    const harness = await harnessFor(env, { rows: rows(3) });
    harness.dest.knobs.strayKeys = ['99'];
    const { runId, end, row } = await harness.run();
    expect(end.status).toBe('succeeded');
    expect(row.counts).toMatchObject({ accepted: 3, rejected: 0 });
    const [stray] = await env.store.query<{ n: number }>(
      `select count(*)::int as n from run_records where run_id = $1 and pk = '99'`,
      [runId],
    );
    expect(stray?.n).toBe(0);
    const [snap] = await env.store.query<{ n: number }>(
      `select count(*)::int as n from sync_snapshots where pk = '99'`,
    );
    expect(snap?.n).toBe(0);
  });

  it('fails the run on a fatal error and pauses the sync when asked', async () => {
    const harness = await harnessFor(env, { rows: rows(3) });
    harness.dest.knobs.failNext = [{ kind: 'fatal', reason: '410 Gone: endpoint removed', pauseSync: true }];
    const first = await harness.run();
    expect(first.end).toMatchObject({ status: 'failed', errorCode: 'destination_fatal' });
    expect(first.row.errorMessage).toBe('410 Gone: endpoint removed The sync is paused until it is resumed.');
    expect(first.row.counts).toMatchObject({ pending: 3, accepted: 0 });
    const [sync] = await env.store.query<{ pausedReason: string }>(
      'select paused_reason as "pausedReason" from syncs where id = $1',
      [harness.syncId],
    );
    expect(sync?.pausedReason).toBe('410 Gone: endpoint removed');
    const second = await harness.run();
    expect(second.end).toMatchObject({ status: 'failed', errorCode: 'sync_paused' });
  });

  it('caps batches by bytes as well as by count, and rejects a record too big to ever send', async () => {
    const model = [...rows(4), { id: 5, name: 'x'.repeat(400) }];
    const harness = await harnessFor(env, { rows: model, destination: { maxBatchBytes: 330 } });
    const { runId, end } = await harness.run();
    expect(end.status).toBe('partial');
    const [big] = await recordsOf(runId, 'rejected');
    expect(big?.pk).toBe('5');
    expect(big?.reason).toMatch(
      /^record is \d+ bytes, over the destination's limit of 330 bytes per request$/,
    );
    expect(harness.dest.writes.length).toBeGreaterThan(1);
    expect(harness.contents()).toEqual(expected(rows(4)));
  });
});

describe('mass-delete guard', () => {
  it('blocks a mirror run that would delete too much, then lets an explicit run through', async () => {
    const harness = await harnessFor(env, {
      mode: 'mirror',
      rows: rows(10),
      massDelete: { share: 0.2, min: 2 },
    });
    expect((await harness.run()).end.status).toBe('succeeded');

    const shrunk = [...rows(5), { id: 11, name: 'v1-11' }];
    await harness.setModel(shrunk);
    const blocked = await harness.run();
    expect(blocked.end).toMatchObject({ status: 'failed', errorCode: 'mass_delete_guard' });
    // Nothing was sent, so the new key is not remembered as possibly created.
    const remembered = await env.store.query(`select pk from sync_snapshots where pk = '11'`);
    expect(remembered).toEqual([]);
    expect(blocked.row.errorMessage).toBe(
      'This run would delete 5 of 10 synced records (50%), more than the sync allows (20% and more than 2 ' +
        'records). Nothing was sent. If the deletions are intended, start a run with allowMassDelete: true.',
    );
    expect(harness.contents()).toEqual(expected(rows(10)));

    const allowed = await harness.run({ allowMassDelete: true });
    expect(allowed.end.status).toBe('succeeded');
    expect(allowed.row.counts).toMatchObject({ accepted: 6, planned: { delete: 5, upsert: 1 } });
    expect(harness.contents()).toEqual(expected(shrunk));
    const [snap] = await env.store.query<{ n: number }>('select count(*)::int as n from sync_snapshots');
    expect(snap?.n).toBe(6);
  });

  it('lets a small deletion through without asking', async () => {
    const harness = await harnessFor(env, {
      mode: 'mirror',
      rows: rows(10),
      massDelete: { share: 0.2, min: 2 },
    });
    await harness.run();
    await harness.setModel(rows(8));
    const { end } = await harness.run();
    expect(end.status).toBe('succeeded');
    expect(harness.contents()).toEqual(expected(rows(8)));
  });
});
