import { describe, expect, it } from 'vitest';
import { cancelRun, enqueueRun } from '../../../src/sync/queue.ts';
import { MAX_RUN_ATTEMPTS } from '../../../src/sync/run.ts';
import { runNow } from '../../../src/worker/worker.ts';
import { storePerTest } from '../../helpers/per-test.ts';
import { expected, harnessFor, type ModelRow, rows } from './harness.ts';

const env = storePerTest();

describe('run lifecycle', () => {
  it('delivers the model, then sends only what changed', async () => {
    const harness = await harnessFor(env, { rows: rows(25) });
    const first = await harness.run();
    expect(first.end).toEqual({ status: 'succeeded' });
    expect(harness.contents()).toEqual(expected(rows(25)));
    expect(first.row.counts).toMatchObject({ rows: 25, accepted: 25, rejected: 0, invalid: 0, pending: 0 });
    expect(first.row.phase).toBe('done');

    const model = rows(25).map((r) => (r.id === 3 ? { id: 3, name: 'changed' } : r));
    await harness.setModel(model);
    const writesBefore = harness.dest.writes.length;
    const second = await harness.run();
    expect(second.end.status).toBe('succeeded');
    expect(second.row.counts).toMatchObject({ accepted: 1, planned: { upsert: 1, unchanged: 24 } });
    expect(harness.dest.writes.slice(writesBefore).flatMap((w) => w.keys)).toEqual(['3']);
    expect(harness.contents()).toEqual(expected(model));
  });

  it('marks null and duplicate keys invalid with reasons, and delivers the rest', async () => {
    const model: ModelRow[] = [
      { id: 1, name: 'a' },
      { id: null, name: 'no key' },
      { id: 2, name: 'b' },
      { id: 2, name: 'b again' },
    ];
    const harness = await harnessFor(env, { rows: model });
    const { runId, end, row } = await harness.run();
    expect(end.status).toBe('partial');
    expect(harness.contents()).toEqual({ '1': 'a' });
    expect(row.counts).toMatchObject({ accepted: 1, invalid: 3 });
    const invalid = await env.store.query<{ pk: string | null; reason: string }>(
      `select pk, reason from run_records where run_id = $1 and status = 'invalid' order by pk nulls first`,
      [runId],
    );
    expect(invalid).toHaveLength(3);
    expect(invalid[0]?.pk).toBeNull();
    expect(invalid.every((r) => r.reason.length > 0)).toBe(true);
    expect(invalid.filter((r) => r.pk === '2')).toHaveLength(2);
  });

  it('dry run reports counts and a sample and sends nothing', async () => {
    const harness = await harnessFor(env, { rows: rows(5) });
    const { end, row } = await harness.run({ dryRun: true });
    expect(end.status).toBe('succeeded');
    expect(harness.dest.writes).toHaveLength(0);
    expect(row.plan).toMatchObject({ rows: 5, planned: { upsert: 5 } });
    expect(row.plan?.sample).toBeDefined();
    const [snap] = await env.store.query<{ n: number }>('select count(*)::int as n from sync_snapshots');
    expect(snap?.n).toBe(0);
  });

  it('fails with a reason a person can act on when the destination kind is not available', async () => {
    const harness = await harnessFor(env, { rows: rows(2) });
    await env.store.execute(`update destinations set kind = 'gone'`);
    const { end, row } = await harness.run();
    expect(end).toMatchObject({ status: 'failed', errorCode: 'setup_failed' });
    expect(row.errorMessage).toBe('destination kind "gone" is not available in this build');
  });

  it('abandons a run that keeps losing its workers instead of resuming it forever', async () => {
    const harness = await harnessFor(env, { rows: rows(2) });
    const queued = await enqueueRun(env.store, { syncId: harness.syncId, trigger: 'api' });
    if (!queued.ok) throw new Error(queued.reason);
    await env.store.execute('update sync_runs set attempt = $2 where id = $1', [
      queued.run.id,
      MAX_RUN_ATTEMPTS,
    ]);
    const result = await runNow(harness.deps, queued.run.id);
    expect(result).toMatchObject({ ok: true, end: { status: 'failed', errorCode: 'too_many_attempts' } });
    expect(harness.dest.writes).toHaveLength(0);
  });

  it('cancelling a run handed back mid-delivery finishes it through a worker: records cancelled, sent keys remembered', async () => {
    const harness = await harnessFor(env, {
      mode: 'mirror',
      rows: rows(20),
      destination: { maxBatchRecords: 5, maxConcurrent: 1 },
    });
    const queued = await enqueueRun(env.store, { syncId: harness.syncId, trigger: 'api' });
    if (!queued.ok) throw new Error(queued.reason);
    // A rolling restart: the worker is told to stop as its first batch goes out.
    const drain = new AbortController();
    harness.dest.knobs.observe = (_batch, writeNumber) => {
      if (writeNumber === 1) drain.abort();
    };
    const first = await runNow(harness.deps, queued.run.id, { drain: drain.signal });
    expect(first).toMatchObject({ ok: true, end: { status: 'handed_back' } });

    // Queued again, part sent: only a worker can finish it properly.
    expect(await cancelRun(env.store, queued.run.id)).toEqual({ ok: true, status: 'cancelling' });
    const second = await runNow(harness.deps, queued.run.id);
    expect(second).toMatchObject({ ok: true, end: { status: 'cancelled' } });
    expect(harness.dest.writes).toHaveLength(1);
    const [run] = await env.store.query<{ counts: Record<string, number> }>(
      'select counts from sync_runs where id = $1',
      [queued.run.id],
    );
    expect(run?.counts).toMatchObject({ accepted: 5, pending: 0, cancelled: 15 });
    // The unsent keys may exist at the destination as far as Ebb can tell: remembered, to be re-sent
    // or deleted by the next run.
    const remembered = await env.store.query<{ n: number }>(
      `select count(*)::int as n from sync_snapshots where sync_id = $1 and fingerprint = ''`,
      [harness.syncId],
    );
    expect(remembered[0]?.n).toBe(15);
    harness.dest.knobs.observe = undefined;
    const next = await harness.run();
    expect(next.end.status).toBe('succeeded');
    expect(harness.contents()).toEqual(expected(rows(20)));
  });

  it('a change left unconfirmed is sent again even if the row changes back', async () => {
    const harness = await harnessFor(env, { rows: rows(3) });
    expect((await harness.run()).end.status).toBe('succeeded');
    // Row 2 changes; the run stops on a spent quota with the change unconfirmed (an earlier attempt
    // may have sent it before a crash: the destination may hold either value).
    await harness.setModel(rows(3).map((r) => (r.id === 2 ? { id: 2, name: 'changed' } : r)));
    harness.dest.knobs.failNext.push({ kind: 'quota', reason: 'daily limit reached' });
    expect((await harness.run()).end.status).toBe('partial');
    // The row changes back to what the snapshot last confirmed: it must still be sent.
    await harness.setModel(rows(3));
    const writes = harness.dest.writes.length;
    expect((await harness.run()).end.status).toBe('succeeded');
    expect(harness.dest.writes.slice(writes).flatMap((w) => w.keys)).toEqual(['2']);
    expect(harness.contents()).toEqual(expected(rows(3)));
  });

  it('fails fast when the sync is paused, with its reason', async () => {
    const harness = await harnessFor(env, { rows: rows(2) });
    await env.store.execute('update syncs set paused_reason = $2 where id = $1', [
      harness.syncId,
      'the endpoint answered 410 Gone',
    ]);
    const { end, row } = await harness.run();
    expect(end).toMatchObject({ status: 'failed', errorCode: 'sync_paused' });
    expect(row.errorMessage).toContain('the endpoint answered 410 Gone');
    expect(harness.dest.writes).toHaveLength(0);
  });
});
