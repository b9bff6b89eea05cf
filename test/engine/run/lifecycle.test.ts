import { describe, expect, it } from 'vitest';
import { enqueueRun } from '../../../src/sync/queue.ts';
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
