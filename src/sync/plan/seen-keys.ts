/**
 * A Bloom filter over the primary keys of one run: a fixed 8 MiB whatever the model's size, so memory
 * stays bounded (invariant 4). It has no false negatives, so a key it has not seen is certainly new; a
 * key it reports as seen is only a candidate duplicate, checked in SQL. With 7 probes the false rate is
 * about 1 in 10 million keys at 1M rows, so a model without duplicates usually skips the SQL check.
 */
const BITS_LOG2 = 26;
const MASK = (1 << BITS_LOG2) - 1;
const PROBES = 7;

export interface SeenKeys {
  /** Adds the key; returns whether it may have been added before. */
  add(key: string): boolean;
  /** The filter's state, so another thread can carry on from it (`createSeenKeys(bits)`). */
  readonly bits: Uint32Array;
}

export function createSeenKeys(from?: Uint32Array): SeenKeys {
  const size = 1 << (BITS_LOG2 - 5);
  if (from && from.length !== size)
    throw new Error(`a Bloom filter state has ${size} words, got ${from.length}`);
  const bits = from ?? new Uint32Array(size);
  return {
    bits,
    add(key) {
      // Two independent 32-bit hashes (FNV-1a and a multiplicative one), combined by double hashing.
      let h1 = 0x811c9dc5;
      let h2 = 0x9e3779b9;
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        h1 = Math.imul(h1 ^ c, 0x01000193);
        h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
      }
      h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
      h1 ^= h1 >>> 13;
      h2 = (h2 ^ (h2 >>> 13)) | 1;
      let seen = true;
      for (let i = 0; i < PROBES; i++) {
        const bit = (h1 + Math.imul(i, h2)) & MASK;
        const word = bit >>> 5;
        const flag = 1 << (bit & 31);
        const current = bits[word] ?? 0;
        if ((current & flag) === 0) {
          seen = false;
          bits[word] = current | flag;
        }
      }
      return seen;
    },
  };
}
