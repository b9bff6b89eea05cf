import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalText, isoUtc } from '../../../src/sync/plan/canonical.ts';
import { createRowEncoder } from '../../../src/sync/plan/encode.ts';
import { createSeenKeys } from '../../../src/sync/plan/seen-keys.ts';
import type { WarehouseRow, WarehouseValue } from '../../../src/warehouses/types.ts';

const encoder = createRowEncoder({
  primaryKey: 'id',
  mappings: [
    { from: 'name', to: 'full_name' },
    { from: 'meta', to: 'meta' },
    { from: 'nick', to: 'nick', skipNull: true },
  ],
  identifier: { from: 'email', to: 'email' },
});

/** The COPY line's columns: pk, fingerprint, identifier, invalid reason, payload. */
function encode(row: WarehouseRow) {
  const [pk, fp, ident, invalid, payload] = encoder.encode(row).line.replace(/\n$/, '').split('\t');
  return { pk, fp, ident, invalid, payload };
}

describe('canonical values', () => {
  it('writes each kind of value one way', () => {
    expect(canonicalJson(new Date('2024-03-01T12:00:00+02:00'))).toBe('"2024-03-01T10:00:00.000Z"');
    expect(canonicalJson(2n ** 70n)).toBe('"1180591620717411303424"');
    expect(canonicalJson(42n)).toBe('42');
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson(Number.NaN)).toBe('"NaN"');
    expect(canonicalJson(new Uint8Array([1, 2, 255]))).toBe('"AQL/"');
    expect(canonicalJson({ b: [1, { z: 1, a: 2 }], a: null })).toBe('{"a":null,"b":[1,{"a":2,"z":1}]}');
    expect(canonicalJson('12.50')).toBe('"12.50"');
    expect(canonicalText(2n ** 70n)).toBe('1180591620717411303424');
    expect(canonicalText(new Date('2024-03-01T00:00:00Z'))).toBe('2024-03-01T00:00:00.000Z');
  });

  it('formats every instant exactly as toISOString does', () => {
    const instant = fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 });
    fc.assert(
      fc.property(instant, (t) => isoUtc(new Date(t)) === new Date(t).toISOString()),
      { numRuns: 20_000 },
    );
    for (const t of [0, -1, Date.UTC(2000, 1, 29), Date.UTC(1000, 0, 1), Date.UTC(10000, 0, 1) - 1]) {
      expect(isoUtc(new Date(t))).toBe(new Date(t).toISOString());
    }
  });

  it('flags every repeated key as a candidate duplicate, and few others', () => {
    const seen = createSeenKeys();
    let flagged = 0;
    for (let i = 0; i < 100_000; i++) if (seen.add(`k${i}`)) flagged++;
    expect(flagged).toBeLessThan(5);
    for (let i = 0; i < 100_000; i += 997) expect(seen.add(`k${i}`)).toBe(true);
  });

  it('gives nested JSON the same text whatever its key order', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
      ),
    })).value as fc.Arbitrary<WarehouseValue>;
    fc.assert(
      fc.property(json, (value) => {
        const reversed = reverseKeys(value);
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

function reverseKeys(value: WarehouseValue): WarehouseValue {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) {
    return value;
  }
  // fromEntries defines own properties, so a "__proto__" key stays a key instead of a prototype.
  return Object.fromEntries(
    Object.keys(value)
      .reverse()
      .map((key) => [key, reverseKeys(value[key] ?? null)]),
  );
}

describe('fingerprint', () => {
  const row = {
    id: 7,
    email: 'a@example.com',
    name: 'Ada',
    meta: { tier: 'gold', since: 2019 },
    nick: null,
    unmapped: 'x',
  };

  it('is the same for the same mapped data, whatever the column or key order', () => {
    const shuffled = {
      unmapped: 'x',
      nick: null,
      meta: { since: 2019, tier: 'gold' },
      name: 'Ada',
      email: 'a@example.com',
      id: 7,
    };
    expect(encode(shuffled)).toEqual(encode(row));
    expect(encode(row).payload).toBe('{"full_name":"Ada","meta":{"since":2019,"tier":"gold"}}');
  });

  it('ignores unmapped columns and changes with any mapped field or the identifier', () => {
    const base = encode(row).fp;
    expect(encode({ ...row, unmapped: 'y' }).fp).toBe(base);
    expect(encode({ ...row, name: 'Ada L.' }).fp).not.toBe(base);
    expect(encode({ ...row, nick: 'ada' }).fp).not.toBe(base);
    expect(encode({ ...row, meta: { tier: 'gold', since: 2020 } }).fp).not.toBe(base);
    expect(encode({ ...row, email: 'b@example.com' }).fp).not.toBe(base);
  });

  it('treats the same instant from different drivers alike', () => {
    const a = encode({ ...row, name: new Date('2024-01-01T00:00:00Z') });
    const b = encode({ ...row, name: new Date(Date.UTC(2024, 0, 1)) });
    expect(a.fp).toBe(b.fp);
  });

  it('marks null keys, null identifiers and NUL characters invalid, escaping COPY text', () => {
    expect(encode({ ...row, id: null })).toMatchObject({ pk: '\\N', invalid: 'null primary key' });
    expect(encode({ ...row, email: null })).toMatchObject({ pk: '7', invalid: 'null identifier' });
    expect(encode({ ...row, name: 'a\u0000b' }).invalid).toMatch(/NUL character/);
    expect(encode({ ...row, meta: { note: 'half \ud800 a pair' } }).invalid).toMatch(/unpaired surrogate/);
    expect(encode({ ...row, name: 'emoji \ud83d\ude00 and \u0001' }).invalid).toBe('\\N');
    expect(encode({ ...row, name: 'tab\there\nline\\' }).payload).toBe(
      '{"full_name":"tab\\\\there\\\\nline\\\\\\\\","meta":{"since":2019,"tier":"gold"}}',
    );
  });
});
