import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, canonicalText, isoUtc } from '../../../src/sync/plan/canonical.ts';
import { createRowEncoder, isoFromText, textCanonical, textJson } from '../../../src/sync/plan/encode.ts';
import { planRun } from '../../../src/sync/plan/index.ts';
import { openWarehouse } from '../../../src/warehouses/index.ts';
import { createTypeParsers } from '../../../src/warehouses/postgres-values.ts';
import type { TextColumn, Warehouse, WarehouseValue } from '../../../src/warehouses/types.ts';
import { createScratchDatabase, type ScratchDatabase } from '../../warehouses/scratch-postgres.ts';
import { newRun, planInput, records, seededSyncPerTest } from './setup.ts';

/**
 * Planning from warehouse text must give exactly the line planning from values gives: a fingerprint
 * that changed with the read path would resend a whole model. These compare the text shortcuts with
 * the value path (parse, then canonicalise) on the text Postgres prints.
 */
const parsers = createTypeParsers(new Map());
const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  numeric: 1700,
  date: 1082,
  ts: 1114,
  tstz: 1184,
};
const column = (name: string, oid: number): TextColumn => ({
  name,
  kind: parsers.kindOf(oid),
  parse: parsers.getTypeParser(oid) as TextColumn['parse'],
});

const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** A timestamp as Postgres prints it in DateStyle ISO with TimeZone UTC. */
const pgTimestamp = fc
  .record({
    ms: fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31) }),
    micros: fc.integer({ min: 0, max: 999 }),
    zone: fc.boolean(),
  })
  .map(({ ms, micros, zone }) => {
    const d = new Date(ms);
    const fraction = (d.getUTCMilliseconds() * 1000 + micros).toString().padStart(6, '0').replace(/0+$/, '');
    const text = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ${pad(
      d.getUTCHours(),
      2,
    )}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}${fraction ? `.${fraction}` : ''}`;
    return zone ? `${text}+00` : text;
  });

const sameAsValuePath = (col: TextColumn, text: string | null) => {
  const value: WarehouseValue = text === null ? null : col.parse(text);
  expect(textJson(col, text)).toBe(canonicalJson(value));
  expect(textCanonical(col, text)).toBe(canonicalText(value));
};

describe('planning from warehouse text', () => {
  it('turns Postgres timestamps into the ISO text of the Date the parser makes', () => {
    fc.assert(
      fc.property(pgTimestamp, (text) => {
        const parsed = parsers.getTypeParser(OID.tstz)(text) as Date;
        expect(isoFromText(text)).toBe(isoUtc(parsed));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    'infinity',
    '-infinity',
    '0044-03-15 12:00:00 BC',
    '0999-12-31 23:59:59.999+00',
    '12345-01-01 00:00:00+00',
    '2024-01-02 03:04:05.678+02',
    '2024-01-02 03:04:05.123-03',
    '2024-01-02 03:04:05.5+05:30',
  ])('leaves %s to the parser, with the same result', (text) => {
    expect(isoFromText(text)).toBeUndefined();
    sameAsValuePath(column('t', OID.tstz), text);
    sameAsValuePath(column('t', OID.ts), text.replace(/[+-]\d\d(:\d\d)?$/, ''));
  });

  it('canonicalises integers, bigints, booleans and strings as the value path does', () => {
    const int = (min: number, max: number) => fc.integer({ min, max }).map(String);
    fc.assert(
      fc.property(
        int(-32768, 32767),
        int(-2147483648, 2147483647),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
        fc.constantFrom('t', 'f'),
        fc.string({ unit: 'binary' }),
        fc.stringMatching(/^-?\d{1,20}\.\d{0,10}$/),
        pgTimestamp,
        (i2, i4, i8, b, s, n, ts) => {
          sameAsValuePath(column('a', OID.int2), i2);
          sameAsValuePath(column('a', OID.int4), i4);
          sameAsValuePath(column('a', OID.int8), i8);
          sameAsValuePath(column('a', OID.bool), b);
          sameAsValuePath(column('a', OID.text), s);
          sameAsValuePath(column('a', OID.numeric), n);
          sameAsValuePath(column('a', OID.tstz), ts);
          sameAsValuePath(column('a', OID.ts), ts.replace('+00', ''));
          sameAsValuePath(column('a', OID.date), ts.slice(0, 10));
          sameAsValuePath(column('a', OID.int8), null);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('writes the same stage line from text as from the parsed values, nulls and skipped nulls included', () => {
    const columns = [
      column('id', OID.int8),
      column('email', OID.text),
      column('score', OID.int4),
      column('seen_at', OID.tstz),
      column('active', OID.bool),
      { name: 'tags', kind: 'other', parse: (t: string) => JSON.parse(t) as WarehouseValue } as TextColumn,
    ];
    const input = {
      primaryKey: 'id',
      identifier: { from: 'email', to: 'email' },
      mappings: [
        { from: 'score', to: 'score' },
        { from: 'seen_at', to: 'seenAt', skipNull: true },
        { from: 'active', to: 'active' },
        { from: 'tags', to: 'tags' },
        { from: 'missing', to: 'missing' },
      ],
    };
    const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
    const row = fc.tuple(
      nullable(fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String)),
      nullable(fc.string({ unit: 'binary' })),
      nullable(fc.integer().map(String)),
      nullable(pgTimestamp),
      nullable(fc.constantFrom('t', 'f')),
      nullable(fc.json()),
    );
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 20 }), (rows) => {
        const fromText = createRowEncoder(input);
        const fromValues = createRowEncoder(input);
        const batch = { columns, count: rows.length, fields: rows.flat() };
        rows.forEach((fields, i) => {
          const values = Object.fromEntries(
            columns.map((c, at) => {
              const text = fields[at] ?? null;
              return [c.name, text === null ? null : c.parse(text)];
            }),
          );
          expect(fromText.encodeText(batch, i)).toEqual(fromValues.encode(values));
        });
        expect(fromText.candidates).toBe(fromValues.candidates);
      }),
      { numRuns: 300 },
    );
  });
});

describe('planning from a Postgres warehouse', () => {
  const open = seededSyncPerTest();
  let db: ScratchDatabase;
  let wh: Warehouse;
  beforeAll(async () => {
    db = await createScratchDatabase();
    wh = await openWarehouse('postgres', { url: db.url });
  });
  afterAll(async () => {
    await wh?.close();
    await db?.drop();
  });

  it('plans the same outbox from COPY text as from cursor values, invalid rows included', async () => {
    await db.admin(`create table people as
      select g::bigint as id,
             case when g % 17 = 0 then null else 'p' || g || '@example.com' end as email,
             case when g % 5 = 0 then E'tab\\there \\\\ "q" é' else 'Person ' || g end as name,
             (g * 7)::int as score, now() - g * interval '1 minute 1.5 ms' as notes,
             jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 3 = 0)) as extra
      from generate_series(1, 3000) g
      union all select 7, 'dup@example.com', 'Duplicate', 1, now(), null
      union all select null, 'nokey@example.com', 'No key', 1, now(), null`);
    const { store, syncId } = await open();
    const mappings = [
      { from: 'name', to: 'full_name' },
      { from: 'score', to: 'score' },
      { from: 'notes', to: 'seen_at' },
      { from: 'extra', to: 'extra', skipNull: true },
    ];
    const plan = async (warehouse: Warehouse) => {
      const run = await newRun(store, syncId);
      const result = await planRun(
        store,
        planInput(syncId, run, [], { warehouse, mappings, batchSize: 256 }),
      );
      return { result, outbox: (await records(store, run)).map((r) => ({ ...r })) };
    };
    const valuesOnly: Warehouse = { ...wh, streamText: undefined, stream: (sql, o) => wh.stream(sql, o) };
    const fromText = await plan(wh);
    const fromValues = await plan(valuesOnly);
    expect(fromText.result).toEqual(fromValues.result);
    expect(fromText.outbox).toEqual(fromValues.outbox);
    expect(fromText.result.invalid).toBe(3 + 176);
    expect(fromText.outbox.filter((r) => r.status === 'pending')).toHaveLength(3000 - 1 - 176);
  });
});
