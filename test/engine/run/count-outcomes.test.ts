import { describe, expect, it } from 'vitest';
import { countOutcomes } from '../../../src/sync/deliver/outbox.ts';
import { planRun } from '../../../src/sync/plan/index.ts';
import { newRun, people, planInput, seededSyncPerTest } from '../plan/setup.ts';

const open = seededSyncPerTest();

describe('counting a run outcomes', () => {
  it('gives exactly what counting every record by status gives, from the planned counts', async () => {
    const { store, syncId } = await open();
    const runId = await newRun(store, syncId);
    const rows = [...people(40), { id: null, email: 'x@example.com', name: 'no key', score: 1, notes: '' }];
    const plan = await planRun(store, planInput(syncId, runId, rows));
    await store.execute('update sync_runs set counts = $2 where id = $1', [
      runId,
      JSON.stringify({ planned: plan.planned, invalid: plan.invalid }),
    ]);
    const set = (status: string, from: number, to: number) =>
      store.execute(
        `update run_records set status = $2 where run_id = $1 and status = 'pending' and pk::int between $3 and $4`,
        [runId, status, from, to],
      );
    await set('accepted', 1, 20);
    await set('rejected', 21, 25);
    await set('cancelled', 26, 28);
    const byStatus = async () => {
      const counted = await store.query<{ status: string; n: number }>(
        'select status, count(*)::int as n from run_records where run_id = $1 group by status',
        [runId],
      );
      const by = Object.fromEntries(counted.map((r) => [r.status, r.n]));
      return {
        accepted: by.accepted ?? 0,
        rejected: by.rejected ?? 0,
        invalid: by.invalid ?? 0,
        pending: by.pending ?? 0,
        cancelled: by.cancelled ?? 0,
      };
    };
    expect(await countOutcomes(store, runId)).toEqual({
      accepted: 20,
      rejected: 5,
      invalid: 1,
      pending: 12,
      cancelled: 3,
    });
    expect(await countOutcomes(store, runId)).toEqual(await byStatus());
    // A run without planned counts (planned by an older version) is counted record by record.
    await store.execute('update sync_runs set counts = null where id = $1', [runId]);
    expect(await countOutcomes(store, runId)).toEqual(await byStatus());
  });
});
