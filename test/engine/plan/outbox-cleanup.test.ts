import { afterEach, describe, expect, it } from 'vitest';
import { createTestApi, seedConfig, syncBody, type TestApi } from '../../api/fixtures.ts';
import { newRun } from './setup.ts';

let api: TestApi | undefined;
afterEach(async () => {
  await api?.store.close();
  api = undefined;
});

/** run_records has no foreign key to its run (it made the outbox insert a third slower); cleanup is explicit. */
describe('outbox cleanup without a foreign key', () => {
  it("deleting a sync deletes its runs' records and no other sync's", async () => {
    api = await createTestApi();
    const ids = await seedConfig(api);
    const syncIds: string[] = [];
    for (const name of ['doomed', 'kept']) {
      const created = await api.call('POST', '/v1/syncs', syncBody(ids, { name }));
      expect(created.status).toBe(201);
      syncIds.push((created.body as { id: string }).id);
    }
    const [doomed = '', kept = ''] = syncIds;
    for (const syncId of [doomed, kept]) {
      const runId = await newRun(api.store, syncId);
      await api.store.execute(
        `insert into run_records (run_id, sync_id, pk, operation, status)
         select $1, $2, g::text, 'upsert', 'pending' from generate_series(1, 3) g`,
        [runId, syncId],
      );
    }

    expect((await api.call('DELETE', `/v1/syncs/${doomed}`)).status).toBe(204);
    const left = await api.store.query<{ sync_id: string; n: number }>(
      'select sync_id, count(*)::int as n from run_records group by sync_id',
    );
    expect(left).toEqual([{ sync_id: kept, n: 3 }]);
    expect(await api.store.query('select id from sync_runs where sync_id = $1', [doomed])).toEqual([]);
  });
});
