import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RecordOperation } from '../../../src/db/schema/index.ts';
import { packBatches } from '../../../src/sync/deliver/index.ts';
import { type OutboxRecord, recordBytes, toChange } from '../../../src/sync/deliver/outbox.ts';
import { enqueueRun } from '../../../src/sync/queue.ts';
import { runNow } from '../../../src/worker/worker.ts';
import { storePerTest } from '../../helpers/per-test.ts';
import { expected, harnessFor, rows } from './harness.ts';

const env = storePerTest();

function outboxRecord(id: number, operation: RecordOperation, destinationRecordId: string | null) {
  return {
    id,
    pk: String(id),
    operation,
    fingerprint: operation === 'delete' ? null : `f${id}`,
    payloadText: operation === 'delete' ? null : JSON.stringify({ name: `n${id}` }),
    identifier: `u${id}@example.com`,
    destinationRecordId,
    idempotencyKey: `k${id}`,
    attempts: 0,
  } satisfies OutboxRecord;
}

describe('the batch byte cap', () => {
  it("measures a record as its change's JSON, without building it", () => {
    const text = fc.string({ unit: 'binary' });
    const record = fc.record({
      id: fc.nat(),
      pk: text,
      operation: fc.constantFrom<RecordOperation>('insert', 'update', 'upsert', 'delete'),
      fingerprint: fc.option(text, { nil: null }),
      payloadText: fc.option(
        fc.dictionary(text, fc.jsonValue()).map((fields) => JSON.stringify(fields)),
        { nil: null },
      ),
      identifier: fc.option(text, { nil: null }),
      destinationRecordId: fc.option(text, { nil: null }),
      idempotencyKey: text,
      attempts: fc.nat(),
    });
    fc.assert(
      fc.property(record, (r) => {
        expect(recordBytes(r)).toBe(Buffer.byteLength(JSON.stringify(toChange(r))));
      }),
      { numRuns: 2000 },
    );
  });

  it('hands connectors the stored fields, parsed once when first read, and lets them replace them', () => {
    const change = toChange(outboxRecord(1, 'upsert', null));
    expect(change.fields).toEqual({ name: 'n1' });
    expect(change.fields).toBe(change.fields);
    expect(toChange(outboxRecord(2, 'delete', 'x')).fields).toEqual({});
    change.fields = { name: 'replaced' };
    expect(change.fields).toEqual({ name: 'replaced' });
  });
});

describe('batches of one kind of call', () => {
  it('never mixes operations, nor updates and deletes by id with those by identifier', () => {
    const kinds: [RecordOperation, boolean][] = [
      ['upsert', false],
      ['upsert', true],
      ['delete', true],
      ['delete', false],
      ['update', true],
      ['update', false],
      ['insert', false],
    ];
    const records = Array.from({ length: 70 }, (_, i) => {
      const [operation, byId] = kinds[(i * 3) % kinds.length] ?? ['upsert', false];
      return outboxRecord(i + 1, operation, byId ? `hs-${i + 1}` : null);
    });
    const { batches, oversize } = packBatches(records, { maxBatchRecords: 4, maxBatchBytes: 100_000 });
    expect(oversize).toEqual([]);
    expect(
      batches
        .flat()
        .map((r) => r.id)
        .sort((a, b) => a - b),
    ).toEqual(records.map((r) => r.id));
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(4);
      const first = batch[0];
      expect(new Set(batch.map((r) => r.operation))).toEqual(new Set([first?.operation]));
      if (first?.operation === 'update' || first?.operation === 'delete') {
        expect(new Set(batch.map((r) => r.destinationRecordId === null)).size).toBe(1);
      }
    }
    // Upserts go together whether or not the destination id is known (one call either way).
    const upserts = batches.filter((b) => b[0]?.operation === 'upsert');
    expect(upserts.slice(0, -1).every((b) => b.length === 4)).toBe(true);
  });

  it('sends a mirror run’s changes and deletions in separate requests', async () => {
    const harness = await harnessFor(env, {
      mode: 'mirror',
      rows: rows(12),
      destination: { maxBatchRecords: 5 },
      massDelete: { share: 1, min: 1000 },
    });
    expect((await harness.run()).end.status).toBe('succeeded');
    // Every third row leaves the model and every other row changes: deletions and upserts interleave.
    const model = rows(12, 'v2').filter((r) => (r.id ?? 0) % 3 !== 0);
    await harness.setModel(model);
    const before = harness.dest.writes.length;
    const second = await harness.run();
    expect(second.end.status).toBe('succeeded');
    expect(second.row.counts).toMatchObject({ accepted: 12, planned: { upsert: 8, delete: 4 } });
    const removed = new Set(['3', '6', '9', '12']);
    for (const write of harness.dest.writes.slice(before)) {
      expect(new Set(write.keys.map((k) => removed.has(k))).size).toBe(1);
    }
    expect(harness.contents()).toEqual(expected(model));
  });
});

describe('planning progress', () => {
  it('reports the rows read while planning, before the run has counts', async () => {
    const harness = await harnessFor(env, { rows: rows(30) });
    const queued = await enqueueRun(env.store, { syncId: harness.syncId, trigger: 'cli' });
    if (!queued.ok) throw new Error(queued.reason);
    const events: string[] = [];
    const result = await runNow(harness.deps, queued.run.id, {
      onPlanProgress: ({ rowsRead }) => events.push(`read ${rowsRead}`),
      onProgress: (counts) => events.push(`counts ${counts.accepted}/${counts.rows}`),
    });
    expect(result).toEqual({ ok: true, end: { status: 'succeeded' } });
    const firstCounts = events.findIndex((e) => e.startsWith('counts'));
    expect(events.slice(0, firstCounts).at(-1)).toBe('read 30');
    expect(events.slice(firstCounts).every((e) => e.startsWith('counts'))).toBe(true);
  });
});
