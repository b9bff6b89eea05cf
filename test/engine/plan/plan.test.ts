import { describe, expect, it } from 'vitest';
import { planRun } from '../../../src/sync/plan/index.ts';
import type { WarehouseRow } from '../../../src/warehouses/types.ts';
import { acceptAll, newRun, people, planInput, records, seededSyncPerTest, syncOnce } from './setup.ts';

const open = seededSyncPerTest();

/** The first run's rows, with one changed, one unmapped change, one removed (pk 3) and one added. */
function secondRows(): WarehouseRow[] {
  const rows = people(5).filter((r) => r.id !== 3);
  return rows
    .map((r) => (r.id === 1 ? { ...r, score: 999 } : r.id === 2 ? { ...r, notes: 'edited, unmapped' } : r))
    .concat(people(1, 6));
}

describe('planRun by mode', () => {
  it('upsert: the first run sends every row, the next only added and changed ones', async () => {
    const { store, syncId } = await open();
    const first = await newRun(store, syncId);
    const r1 = await planRun(store, planInput(syncId, first, people(5)));
    expect(r1).toEqual({
      rows: 5,
      invalid: 0,
      planned: { insert: 0, update: 0, upsert: 5, delete: 0, unchanged: 0, skipped: 0 },
      snapshotSize: 0,
    });
    const out = await records(store, first);
    expect(out[0]).toMatchObject({
      pk: '1',
      operation: 'upsert',
      status: 'pending',
      payload: { full_name: 'Person 1', score: 10 },
      identifier: 'p1@example.com',
      destinationRecordId: null,
    });
    expect(out[0]?.idempotencyKey).toMatch(/^[0-9a-f]{32}$/);
    await acceptAll(store, first);

    const second = await newRun(store, syncId);
    const r2 = await planRun(store, planInput(syncId, second, secondRows()));
    expect(r2.planned).toEqual({ insert: 0, update: 0, upsert: 2, delete: 0, unchanged: 3, skipped: 0 });
    expect(r2.snapshotSize).toBe(5);
    const sent = await records(store, second);
    expect(sent.map((r) => [r.pk, r.operation, r.destinationRecordId])).toEqual([
      ['1', 'upsert', 'd-1'],
      ['6', 'upsert', null],
    ]);
    expect(sent[0]?.payload).toEqual({ full_name: 'Person 1', score: 999 });
  });

  it('mirror: removed rows become deletes carrying the snapshot identifier and destination id', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(5), { mode: 'mirror' });
    const second = await newRun(store, syncId);
    const r2 = await planRun(store, planInput(syncId, second, secondRows(), { mode: 'mirror' }));
    expect(r2.planned).toEqual({ insert: 0, update: 0, upsert: 2, delete: 1, unchanged: 3, skipped: 0 });
    const deletes = (await records(store, second)).filter((r) => r.operation === 'delete');
    expect(deletes).toEqual([
      expect.objectContaining({
        pk: '3',
        status: 'pending',
        identifier: 'p3@example.com',
        destinationRecordId: 'd-3',
        payload: {},
      }),
    ]);
    await acceptAll(store, second);
    const snapshot = await store.query<{ pk: string }>(
      'select pk from sync_snapshots where sync_id = $1 order by pk',
      [syncId],
    );
    expect(snapshot.map((s) => s.pk)).toEqual(['1', '2', '4', '5', '6']);
  });

  it('insert: only rows never sent are inserted; changed rows are counted skipped', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(5), { mode: 'insert' });
    const second = await newRun(store, syncId);
    const r2 = await planRun(store, planInput(syncId, second, secondRows(), { mode: 'insert' }));
    expect(r2.planned).toEqual({ insert: 1, update: 0, upsert: 0, delete: 0, unchanged: 3, skipped: 1 });
    expect((await records(store, second)).map((r) => [r.pk, r.operation])).toEqual([['6', 'insert']]);
  });

  it('update: added and changed rows are planned as updates, nothing is deleted', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(5), { mode: 'update' });
    const second = await newRun(store, syncId);
    const r2 = await planRun(store, planInput(syncId, second, secondRows(), { mode: 'update' }));
    expect(r2.planned).toEqual({ insert: 0, update: 2, upsert: 0, delete: 0, unchanged: 3, skipped: 0 });
  });

  it('full resync: every valid row is planned and nothing is deleted, even in mirror mode', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(5), { mode: 'mirror' });
    const second = await newRun(store, syncId);
    const rows = [...secondRows(), { id: null, email: 'x@example.com', name: 'x', score: 1, notes: '' }];
    const r2 = await planRun(store, planInput(syncId, second, rows, { mode: 'mirror', fullResync: true }));
    expect(r2).toMatchObject({
      rows: 6,
      invalid: 1,
      planned: { insert: 0, update: 0, upsert: 5, delete: 0, unchanged: 0, skipped: 0 },
    });
    const sent = await records(store, second);
    expect(sent.filter((r) => r.status === 'pending').map((r) => r.pk)).toEqual(['1', '2', '4', '5', '6']);
  });
});

describe('planRun validation', () => {
  it('null and duplicate keys are invalid with reasons, and a duplicated key is never deleted', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(4), { mode: 'mirror' });

    const second = await newRun(store, syncId);
    const [p1, p2, p3] = people(3);
    const rows: WarehouseRow[] = [
      { ...p1, id: 1 },
      { ...p2, id: 2, name: 'first copy' },
      { ...p2, id: 2, name: 'second copy' },
      { ...p3, id: null },
      { id: 7, email: null, name: 'no email', score: 0, notes: '' },
    ];
    const result = await planRun(store, planInput(syncId, second, rows, { mode: 'mirror' }));
    expect(result).toMatchObject({
      rows: 5,
      invalid: 4,
      planned: { insert: 0, update: 0, upsert: 0, delete: 2, unchanged: 1, skipped: 0 },
    });
    const out = await records(store, second);
    expect(out.map((r) => [r.pk, r.status, r.operation, r.reason])).toEqual([
      [null, 'invalid', null, 'null primary key'],
      ['2', 'invalid', null, 'duplicate primary key'],
      ['2', 'invalid', null, 'duplicate primary key'],
      // pk 3 now has a null key, so it left the model: it is removed, as is 4.
      ['3', 'pending', 'delete', null],
      ['4', 'pending', 'delete', null],
      ['7', 'invalid', null, 'null identifier'],
    ]);
    expect(out.find((r) => r.reason === 'null primary key')?.payload).toEqual({
      full_name: 'Person 3',
      score: 30,
    });
  });

  it('a value the state store cannot hold makes its row invalid, not the run failed', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(2), { mode: 'mirror' });
    const second = await newRun(store, syncId);
    const rows = people(2).map((r) => (r.id === 2 ? { ...r, name: 'bad \u0000 byte' } : r));
    const result = await planRun(store, planInput(syncId, second, rows, { mode: 'mirror' }));
    expect(result).toMatchObject({ invalid: 1, planned: { delete: 0, unchanged: 1 } });
    expect((await records(store, second)).map((r) => [r.pk, r.status, r.reason])).toEqual([
      [
        '2',
        'invalid',
        'a value contains a NUL character or an unpaired surrogate, which the state store cannot hold',
      ],
    ]);
  });

  it('fails with the missing column and the columns that exist', async () => {
    const { store, syncId } = await open();
    const run = await newRun(store, syncId);
    const input = planInput(syncId, run, people(2), {
      mappings: [{ from: 'phone', to: 'phone' }],
    });
    await expect(planRun(store, input)).rejects.toThrow(
      `mapped column "phone" is not in the model's result; its columns are: id, email, name, score, notes`,
    );
    const missingKey = planInput(syncId, run, people(2), { primaryKey: 'user_id' });
    await expect(planRun(store, missingKey)).rejects.toThrow(/primary key column "user_id" is not/);
  });
});

describe('planRun dry run and mapping changes', () => {
  it('a dry run writes nothing and returns counts and samples', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(5), { mode: 'mirror' });
    const second = await newRun(store, syncId);
    const result = await planRun(
      store,
      planInput(syncId, second, secondRows(), { mode: 'mirror', dryRun: true }),
    );
    expect(result.planned).toEqual({ insert: 0, update: 0, upsert: 2, delete: 1, unchanged: 3, skipped: 0 });
    expect(result.sample).toEqual({
      added: [{ pk: '6', identifier: 'p6@example.com', fields: { full_name: 'Person 6', score: 60 } }],
      changed: [{ pk: '1', identifier: 'p1@example.com', fields: { full_name: 'Person 1', score: 999 } }],
      removed: [{ pk: '3', identifier: 'p3@example.com', fields: {} }],
    });
    expect(await records(store, second)).toEqual([]);
    const [snap] = await store.query<{ n: number }>(
      'select count(*)::int as n from sync_snapshots where sync_id = $1',
      [syncId],
    );
    expect(snap?.n).toBe(5);
  });

  it('a newly mapped column resends exactly the rows whose payload changed', async () => {
    const { store, syncId } = await open();
    const rows = people(6).map((r) => ({ ...r, plan: r.id === 2 || r.id === 5 ? 'pro' : null }));
    const columns = { mappings: [{ from: 'name', to: 'full_name' }] };
    await syncOnce(store, syncId, rows, columns);
    const second = await newRun(store, syncId);
    const mappings = [
      { from: 'name', to: 'full_name' },
      { from: 'plan', to: 'plan', skipNull: true },
    ];
    const withPlan = planInput(syncId, second, rows, { mappings });
    const r2 = await planRun(store, { ...withPlan, warehouse: withColumns(withPlan, ['plan']) });
    expect(r2.planned.upsert).toBe(2);
    expect((await records(store, second)).map((r) => [r.pk, r.payload])).toEqual([
      ['2', { full_name: 'Person 2', plan: 'pro' }],
      ['5', { full_name: 'Person 5', plan: 'pro' }],
    ]);
  });
});

function withColumns(input: ReturnType<typeof planInput>, extra: string[]) {
  const base = input.warehouse;
  return {
    ...base,
    stream: base.stream.bind(base),
    async columns(sql: string) {
      const cols = await base.columns(sql);
      return [...cols, ...extra.map((name) => ({ name, type: 'text' }))];
    },
  };
}

describe('planRun text that COPY must escape', () => {
  it('values with backslashes, quotes, tabs, newlines and carriage returns reach the outbox unchanged', async () => {
    const { store, syncId } = await open();
    const run = await newRun(store, syncId);
    const names = ['back\\slash', 'quote " and \\"', 'tab\there', 'new\nline\r\n', '\\N', 'C:\\temp\\new'];
    const rows = names.map((name, i) => ({ ...people(1, i + 1)[0], name, email: `e\\${i}\t@example.com` }));
    const result = await planRun(store, planInput(syncId, run, rows));
    expect(result.planned.upsert).toBe(names.length);
    const out = await records(store, run);
    expect(out.map((r) => [r.payload?.full_name, r.identifier])).toEqual(
      names.map((name, i) => [name, `e\\${i}\t@example.com`]),
    );
  });
});

describe('planRun mirror outbox order', () => {
  it('writes every upsert before any delete, so delivery batches one operation at a time', async () => {
    const { store, syncId } = await open();
    await syncOnce(store, syncId, people(40), { mode: 'mirror' });
    const second = await newRun(store, syncId);
    // Every third row removed, every fourth changed, ten added.
    const rows = people(40)
      .filter((r) => Number(r.id) % 3 !== 0)
      .map((r) => (Number(r.id) % 4 === 0 ? { ...r, name: 'changed' } : r))
      .concat(people(10, 41));
    const result = await planRun(store, planInput(syncId, second, rows, { mode: 'mirror' }));
    expect(result.planned).toMatchObject({ upsert: 7 + 10, delete: 13, unchanged: 20 });
    const inOrder = await store.query<{ operation: string }>(
      'select operation from run_records where run_id = $1 order by id',
      [second],
    );
    expect(inOrder.map((r) => r.operation)).toEqual([
      ...Array(17).fill('upsert'),
      ...Array(13).fill('delete'),
    ]);
  });
});
