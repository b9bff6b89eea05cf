import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/db/store.ts';
import { planRun } from '../../../src/sync/plan/index.ts';
import { stageTables } from '../../../src/sync/plan/stage.ts';
import type { WarehouseRow } from '../../../src/warehouses/types.ts';
import { createFakeWarehouse } from '../../helpers/fake-warehouse.ts';
import { newRun, people, peopleColumns, planInput, records, seededSyncPerTest, syncOnce } from './setup.ts';

const open = seededSyncPerTest();

/** Whether any staging table of the run is left in the state store. */
async function stageExists(store: Store, runId: string): Promise<boolean> {
  const { prefix } = stageTables(runId);
  const [row] = await store.query<{ n: number }>(
    'select count(*)::int as n from pg_tables where left(tablename, $2) = $1',
    [prefix, prefix.length],
  );
  return (row?.n ?? 0) > 0;
}

describe('planRun resumes and streams', () => {
  it('planning the same run again gives the same outbox, not a second one', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(5), { mode: 'mirror' });

    const run = await newRun(store, syncId);
    const rows = people(8).filter((r) => r.id !== 2);
    const once = await planRun(store, planInput(syncId, run, rows, { mode: 'mirror' }));
    const outbox = await records(store, run);
    // An earlier attempt that crashed mid-load leaves a staging table behind.
    await store.execute(`create unlogged table ${stageTables(run).stage} (pk text)`);
    expect(await stageExists(store, run)).toBe(true);
    const again = await planRun(store, planInput(syncId, run, rows, { mode: 'mirror' }));
    expect(again).toEqual(once);
    expect(await records(store, run)).toEqual(outbox);
    expect(outbox).toHaveLength(4);
    expect(await stageExists(store, run)).toBe(false);
  });

  it('idempotency keys are stable across runs for the same change', async () => {
    const { store, syncId } = await open();
    const a = await newRun(store, syncId);
    await planRun(store, planInput(syncId, a, people(3)));
    const b = await newRun(store, syncId);
    await planRun(store, planInput(syncId, b, people(3)));
    const keys = async (run: string) => (await records(store, run)).map((r) => r.idempotencyKey);
    expect(await keys(b)).toEqual(await keys(a));
    const update = await newRun(store, syncId);
    await planRun(store, planInput(syncId, update, people(3), { mode: 'update' }));
    expect(new Set([...(await keys(update)), ...(await keys(a))]).size).toBe(6);
  });

  it('a warehouse failure fails the plan with its message and leaves no outbox or stage', async () => {
    const { store, syncId } = await open();
    const run = await newRun(store, syncId);
    const warehouse = createFakeWarehouse({
      columns: peopleColumns,
      rows: people(50),
      failAfter: { rows: 20, message: 'canceling statement due to statement timeout' },
    });
    await expect(
      planRun(store, planInput(syncId, run, [], { warehouse, batchSize: 10, encodeOnThread: true })),
    ).rejects.toThrow('canceling statement due to statement timeout');
    expect(await records(store, run)).toEqual([]);
    expect(await stageExists(store, run)).toBe(false);
    // The store is still usable afterwards (no connection left in COPY mode).
    const result = await planRun(store, planInput(syncId, run, people(3)));
    expect(result.planned.upsert).toBe(3);
  });

  it('stops when the run is cancelled', async () => {
    const { store, syncId } = await open();
    const run = await newRun(store, syncId);
    const controller = new AbortController();
    const warehouse = createFakeWarehouse({
      columns: peopleColumns,
      rows: people(100),
      onBatch: (index) => {
        if (index === 2) controller.abort(new Error('run cancelled'));
      },
    });
    const input = planInput(syncId, run, [], {
      warehouse,
      batchSize: 10,
      signal: controller.signal,
      encodeOnThread: true,
    });
    await expect(planRun(store, input)).rejects.toThrow('run cancelled');
    expect(await records(store, run)).toEqual([]);
  });

  it('stages each batch before pulling the next, so memory holds one batch whatever the model size', async () => {
    const { store, syncId } = await open();
    const run = await newRun(store, syncId);
    const total = 30_000;
    const batchSize = 500;
    let chunksStaged = 0;
    let worstLag = 0;
    const warehouse = createFakeWarehouse({
      columns: peopleColumns,
      // Generated lazily: the whole model never exists at once, on either side.
      rows: function* () {
        for (let id = 1; id <= total; id++) {
          yield { id, email: `p${id}@example.com`, name: `n${id}`, score: id, notes: '' } as WarehouseRow;
        }
      },
      onBatch: (index) => {
        worstLag = Math.max(worstLag, index - chunksStaged);
      },
    });
    const counting: Store = {
      ...store,
      copyIn(table, columns, chunks) {
        return store.copyIn(table, columns, countChunks(chunks));
      },
    };
    async function* countChunks(chunks: AsyncIterable<string>) {
      for await (const chunk of chunks) {
        chunksStaged++;
        yield chunk;
      }
    }
    const result = await planRun(
      counting,
      planInput(syncId, run, [], { warehouse, batchSize, encodeOnThread: true }),
    );
    expect(result.planned.upsert).toBe(total);
    expect(warehouse.batches).toBe(total / batchSize);
    expect(warehouse.largestBatch).toBe(batchSize);
    // When batch k is read, batch k-1 has already been handed to COPY: at most one batch in memory.
    expect(worstLag).toBeLessThanOrEqual(1);
  });
});
