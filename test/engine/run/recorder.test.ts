import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/db/store.ts';
import type { OutboxRecord, RecordResult } from '../../../src/sync/deliver/outbox.ts';
import { createGroupRecorder } from '../../../src/sync/deliver/recorder.ts';
import { collectGarbage } from '../../helpers/gc.ts';

const run = { id: 'run_1', syncId: 'sync_1', workerId: 'worker_1' };
let nextId = 1;

function results(n: number): RecordResult[] {
  return Array.from({ length: n }, () => {
    const id = nextId++;
    const record: OutboxRecord = {
      id,
      pk: String(id),
      operation: 'upsert',
      fingerprint: 'f',
      payloadText: JSON.stringify({ email: `${id}@example.com`, padding: 'x'.repeat(64) }),
      identifier: null,
      destinationRecordId: null,
      idempotencyKey: `k${id}`,
      attempts: 0,
    };
    return { record, status: 'accepted', attempts: 1, destinationRecordId: null };
  });
}

describe('group recorder', () => {
  it('lets go of committed outcomes while full groups keep arriving (memory bounded by group size)', async () => {
    const groupSize = 4;
    const groups = 40;
    let commits = 0;
    let firstGroup: WeakRef<RecordResult[]> | undefined;
    let heldWhileBusy: boolean | undefined;
    const settled: Promise<void>[] = [];
    const recorder = createGroupRecorder(
      // Each commit sees the next full group arrive before it finishes: the recorder is never idle, as
      // when a fast destination answers faster than the store commits.
      {
        async query() {
          commits += 1;
          await new Promise((resolve) => setImmediate(resolve));
          if (commits < groups) {
            for (let i = 0; i < groupSize; i++) settled.push(recorder.record(results(50)));
          } else {
            // The last commit, with 39 groups committed before it: the first must be collectable.
            collectGarbage();
            heldWhileBusy = firstGroup?.deref() !== undefined;
          }
          return [{ owned: true }];
        },
      } as unknown as Store,
      run,
      { groupSize, maxDelayMs: 10, parallel: 1 },
    );
    for (let i = 0; i < groupSize; i++) {
      const batch = results(50);
      if (i === 0) firstGroup = new WeakRef(batch);
      settled.push(recorder.record(batch));
    }
    // Settled promises keep no results; wait for every group.
    while (commits < groups) await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all(settled);
    expect(commits).toBe(groups);
    expect(heldWhileBusy).toBe(false);
  });

  it('commits every waiting outcome, including those that arrive during a commit', async () => {
    const written: number[] = [];
    let pending = 0;
    const recorder = createGroupRecorder(
      {
        async query(_text: string, params: unknown[]) {
          pending += 1;
          await new Promise((resolve) => setTimeout(resolve, 2));
          pending -= 1;
          written.push(...(JSON.parse(String(params[3])) as { id: number }[]).map((r) => r.id));
          return [{ owned: true }];
        },
      } as unknown as Store,
      run,
      { groupSize: 3, maxDelayMs: 5, parallel: 1 },
    );
    const batches = Array.from({ length: 25 }, (_, i) => results(1 + (i % 4)));
    await Promise.all(
      batches.map((b, i) => new Promise((r) => setTimeout(r, i)).then(() => recorder.record(b))),
    );
    expect(pending).toBe(0);
    expect(written.sort((a, b) => a - b)).toEqual(
      batches
        .flat()
        .map((r) => r.record.id)
        .sort((a, b) => a - b),
    );
  });
});
