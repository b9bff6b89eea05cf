import { describe, expect, it } from 'vitest';
import { createBatchEncoder } from '../../../src/sync/plan/batch-encoder.ts';
import type { WarehouseRow } from '../../../src/warehouses/types.ts';

const input = {
  primaryKey: 'id',
  mappings: [
    { from: 'name', to: 'full_name' },
    { from: 'meta', to: 'meta' },
    { from: 'seen_at', to: 'seen_at' },
    { from: 'nick', to: 'nick', skipNull: true },
  ],
  identifier: { from: 'email', to: 'email' },
};

/** Every kind of value a warehouse returns, so the thread hand-off must carry each one faithfully. */
function row(i: number): WarehouseRow {
  return {
    id: i % 7 === 0 ? BigInt(i) : i,
    email: i % 11 === 0 ? null : `p${i}@example.com`,
    name: i % 13 === 0 ? 'tab\there, new\nline \\ and \u0000' : `Name ${i}`,
    meta: { z: [1, -0, Number.NaN, 2n ** 70n], a: new Uint8Array([i % 256, 1]), when: new Date(i * 1000) },
    seen_at: i % 5 === 0 ? new Date(Number.NaN) : new Date(Date.UTC(2024, 0, 1) + i * 1000),
    nick: i % 2 === 0 ? null : `n${i}`,
  };
}

async function encodeAll(batches: WarehouseRow[][], offload: boolean) {
  const encoder = createBatchEncoder(input, { offload });
  try {
    const texts: string[] = [];
    let invalid = 0;
    for (const batch of batches) {
      const encoded = await encoder.encode(batch);
      texts.push(encoded.chunks.join(''));
      invalid += encoded.invalid;
    }
    return { text: texts.join(''), invalid, candidates: await encoder.candidates() };
  } finally {
    await encoder.close();
  }
}

describe('encoding on a worker thread', () => {
  it('writes exactly the stage lines the planning thread would, keeping duplicate detection across the hand-off', async () => {
    const batches: WarehouseRow[][] = [];
    for (let b = 0; b < 6; b++) batches.push(Array.from({ length: 40 }, (_, i) => row(b * 40 + i + 1)));
    // Key 3 was encoded on this thread (batch 1), its duplicate on the worker (batch 5); key 200 twice there.
    batches[4]?.push(row(3), row(200));
    batches[5]?.push(
      { ...row(200), name: 'changed' },
      { id: 9999, email: 'only@example.com', name: 'no other columns' },
    );

    const inThread = await encodeAll(batches, false);
    const onWorker = await encodeAll(batches, true);
    expect(onWorker).toEqual(inThread);
    expect(onWorker.candidates).toBeGreaterThanOrEqual(3);
    // Null identifiers (every 11th) and unstorable values (NUL, every 13th) are known invalid.
    expect(onWorker.invalid).toBeGreaterThan(0);
    expect(onWorker.text.split('\n')).toHaveLength(6 * 40 + 4 + 1);
  });

  it('a row that cannot reach the thread fails its batch with a clear error; the encoder stays in step', async () => {
    const encoder = createBatchEncoder(input, { offload: true });
    try {
      await encoder.encode([row(1)]);
      const unclonable = { ...row(2), name: Symbol('not a value') } as unknown as WarehouseRow;
      await expect(encoder.encode([unclonable])).rejects.toThrow(
        /^a row cannot be passed to the encoding thread: .*could not be cloned/,
      );
      await expect(encoder.encode([row(3)])).resolves.toMatchObject({ invalid: 0 });
    } finally {
      await encoder.close();
    }
  });
});
