import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchFailure } from '../../../connectors/types.ts';
import { createTestStore, type TestStore } from '../../helpers/store.ts';
import { createHarness, expected, type ModelRow } from './harness.ts';

let store: TestStore;
beforeEach(async () => {
  store = await createTestStore();
});
afterEach(async () => {
  await store.close();
});

const id = fc.integer({ min: 1, max: 12 });
const edit = fc.oneof(
  fc.record({ op: fc.constant('put' as const), id, name: fc.string({ maxLength: 6 }) }),
  fc.record({ op: fc.constant('delete' as const), id }),
);
const failure: fc.Arbitrary<BatchFailure> = fc.oneof(
  fc.record({ kind: fc.constant('retry' as const), reason: fc.constant('503'), waitMs: fc.nat(3000) }),
  fc.constant({ kind: 'split' as const, reason: 'bad batch' }),
  fc.constant({ kind: 'quota' as const, reason: 'daily limit' }),
);
const faults = fc.record({
  reject: fc.uniqueArray(id, { maxLength: 3 }),
  poison: fc.uniqueArray(id, { maxLength: 2 }),
  omit: fc.uniqueArray(id, { maxLength: 2 }),
  failAt: fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), failure), { maxLength: 3 }),
  crashAt: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 2 }),
});
const step = fc.record({ edits: fc.array(edit, { maxLength: 8 }), faults });

describe('property: the destination converges on the model', () => {
  it('random model edits and delivery failures end equal once a clean run succeeds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 3 }), async (steps) => {
        const model = new Map<number, string>();
        const harness = await createHarness(store, {
          mode: 'mirror',
          destination: { maxBatchRecords: 3, maxConcurrent: 2 },
          massDelete: { share: 1, min: 1000 },
        });
        const current = (): ModelRow[] => [...model].map(([key, name]) => ({ id: key, name }));
        try {
          for (const { edits, faults: f } of steps) {
            for (const e of edits) {
              if (e.op === 'put') model.set(e.id, e.name);
              else model.delete(e.id);
            }
            await harness.setModel(current());
            const knobs = harness.dest.knobs;
            knobs.rejectKeys = new Set(f.reject.map(String));
            knobs.poisonKeys = new Set(f.poison.map(String));
            knobs.omitKeys = new Set(f.omit.map(String));
            const base = harness.dest.writes.length;
            knobs.failAt = new Map(f.failAt.map(([n, fail]) => [base + n, fail]));
            knobs.crashAtWrite = new Set(f.crashAt.map((n) => base + n));
            const { end, row } = await harness.run();
            expect(['succeeded', 'partial']).toContain(end.status);
            const counts = row.counts;
            expect(counts).not.toBeNull();
            if (counts) {
              // Every planned record ends accepted, rejected or pending: nothing is lost.
              const planned = counts.planned.upsert + counts.planned.delete;
              expect(counts.accepted + counts.rejected + counts.pending).toBe(planned);
            }
          }
          const knobs = harness.dest.knobs;
          knobs.rejectKeys.clear();
          knobs.poisonKeys.clear();
          knobs.omitKeys.clear();
          knobs.failAt.clear();
          knobs.crashAtWrite.clear();
          const clean = await harness.run();
          expect(clean.end.status).toBe('succeeded');
          expect(harness.contents()).toEqual(expected(current()));
        } finally {
          await harness.close();
        }
      }),
      // Each case is up to four real runs (DuckDB, planning, delivery), about 0.5 s on a loaded 2-core
      // machine now that scheduling costs no timer per request; 8 cases cover every fault kind.
      {
        numRuns: 8,
        // Found by this property: a record applied but never confirmed (crash, then a quota stop),
        // whose row then left the model, was never deleted in mirror mode.
        examples: [
          [
            [
              {
                edits: [{ op: 'put', id: 6, name: '' }],
                faults: {
                  reject: [],
                  poison: [],
                  omit: [],
                  failAt: [[2, { kind: 'quota', reason: 'daily limit' }]],
                  crashAt: [1],
                },
              },
              {
                edits: [{ op: 'delete', id: 6 }],
                faults: { reject: [], poison: [], omit: [], failAt: [], crashAt: [] },
              },
            ],
          ],
          // Found by this property: a record applied without an answer, then refused whole on the retry,
          // was rejected as if it had never been created, so deleting its row never deleted it.
          [
            [
              {
                edits: [{ op: 'put', id: 8, name: '' }],
                faults: {
                  reject: [],
                  poison: [],
                  omit: [8],
                  failAt: [[2, { kind: 'split', reason: 'bad batch' }]],
                  crashAt: [],
                },
              },
              {
                edits: [{ op: 'delete', id: 8 }],
                faults: { reject: [], poison: [], omit: [], failAt: [], crashAt: [] },
              },
            ],
          ],
        ],
      },
    );
  }, 60_000);
});
