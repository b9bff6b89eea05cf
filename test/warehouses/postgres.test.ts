import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The state store's module sets pg's global INT8 parser to Number; loading it proves the warehouse's
// own parsers are unaffected.
import '../../src/db/postgres.ts';
import { openWarehouse } from '../../src/warehouses/index.ts';
import type { Warehouse, WarehouseRow } from '../../src/warehouses/types.ts';
import { WarehouseError } from '../../src/warehouses/types.ts';
import { createScratchDatabase, type ScratchDatabase } from './scratch-postgres.ts';

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

async function collect(iterable: AsyncIterable<WarehouseRow[]>): Promise<WarehouseRow[][]> {
  const batches: WarehouseRow[][] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

async function pollUntil(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type Reader = (
  sql: string,
  batchSize?: number,
  statementTimeoutMs?: number,
  signal?: AbortSignal,
) => AsyncIterable<WarehouseRow[]>;

const byCursor: Reader = (sql, batchSize = 1000, statementTimeoutMs = 30_000, signal) =>
  wh.stream(sql, { batchSize, statementTimeoutMs, signal });

/** The COPY text read, each field parsed by its column: it must give exactly the cursor's rows. */
const byCopyText: Reader = async function* (sql, batchSize = 1000, statementTimeoutMs = 30_000, signal) {
  const text = await wh.streamText?.(sql, { batchSize, statementTimeoutMs, signal });
  if (!text) throw new Error('this Postgres should be read as COPY text');
  for await (const batch of text) {
    const rows: WarehouseRow[] = [];
    const width = batch.columns.length;
    for (let i = 0; i < batch.count; i++) {
      const row: WarehouseRow = {};
      batch.columns.forEach((column, c) => {
        const field = batch.fields[i * width + c] ?? null;
        row[column.name] = field === null ? null : column.parse(field);
      });
      rows.push(row);
    }
    yield rows;
  }
};

let stream: Reader = byCursor;

describe.each([
  ['a cursor', byCursor],
  ['COPY text', byCopyText],
])('postgres warehouse read by %s', (_, reader) => {
  beforeAll(() => {
    stream = reader;
  });

  describe('postgres warehouse: values', () => {
    it('maps every documented type to its canonical JavaScript value', async () => {
      // Both read paths run this against one database: the enum is created once, since the warehouse
      // caches array type ids as a long-lived connection would.
      await db.admin('drop table if exists typed');
      await db.admin(
        `do $$ begin create type mood as enum ('happy', 'sad'); exception when duplicate_object then null; end $$`,
      );
      await db.admin(`create table typed (
      i2 int2, i4 int4, i8 int8, n numeric(38,10), f8 float8, f4 float4, b bool, tstz timestamptz,
      ts timestamp, d date, j json, jb jsonb, by bytea, ia int4[], i8a int8[], ta text[], nested int4[][],
      u uuid, m mood, ma mood[], iv interval, tsa timestamptz[], nn text)`);
      await db.admin(`insert into typed values (
      -32768, 2147483647, 9007199254740993, 12345678901234567890.0123456789, 1.5, 0.25, true,
      '2024-01-02 03:04:05.678+02', '2024-01-02 03:04:05.678', '2024-02-29', '{"a":[1,null,"x"]}',
      '{"b": {"c": true}}', '\\x00ff10', '{1,NULL,3}', '{9007199254740993,-1}',
      '{"a,b","quote\\"d",NULL,"NULL",""}', '{{1,2},{3,4}}', '00000000-0000-0000-0000-000000000001',
      'happy', '{happy,sad}', '1 day 02:00:00', '{"2024-01-02 03:04:05+00"}', null)`);
      const [batch] = await collect(stream('select * from typed'));
      expect(batch).toEqual([
        {
          i2: -32768,
          i4: 2147483647,
          i8: 9007199254740993n,
          n: '12345678901234567890.0123456789',
          f8: 1.5,
          f4: 0.25,
          b: true,
          tstz: new Date('2024-01-02T01:04:05.678Z'),
          ts: new Date('2024-01-02T03:04:05.678Z'),
          d: '2024-02-29',
          j: { a: [1, null, 'x'] },
          jb: { b: { c: true } },
          by: new Uint8Array([0, 255, 16]),
          ia: [1, null, 3],
          i8a: [9007199254740993n, -1n],
          ta: ['a,b', 'quote"d', null, 'NULL', ''],
          nested: [
            [1, 2],
            [3, 4],
          ],
          u: '00000000-0000-0000-0000-000000000001',
          m: 'happy',
          ma: ['happy', 'sad'],
          iv: '1 day 02:00:00',
          tsa: [new Date('2024-01-02T03:04:05Z')],
          nn: null,
        },
      ]);
    });

    it('keeps values a Date cannot hold as the server text, and special floats as numbers', async () => {
      const { rows } = await wh.preview(
        `select 'infinity'::timestamptz as a, '0044-03-15 12:00:00 BC'::timestamp as b,
              'NaN'::float8 as c, '-Infinity'::float8 as d, '0001-01-01 00:00:00'::timestamp as e`,
        1,
      );
      expect(rows[0]).toEqual({
        a: 'infinity',
        b: '0044-03-15 12:00:00 BC',
        c: Number.NaN,
        d: Number.NEGATIVE_INFINITY,
        e: new Date('0001-01-01T00:00:00Z'),
      });
    });
  });

  describe('postgres warehouse: streaming', () => {
    it('yields batches no larger than batchSize and every row once', async () => {
      const batches = await collect(
        stream('select g as id, md5(g::text) as h from generate_series(1, 50000) g order by g', 1000),
      );
      expect(batches).toHaveLength(50);
      expect(batches.every((b) => b.length <= 1000)).toBe(true);
      const ids = batches.flat().map((r) => r.id);
      expect(ids).toHaveLength(50_000);
      expect(new Set(ids).size).toBe(50_000);
      expect(ids[49_999]).toBe(50_000);
    });

    it('ends cleanly on a partial last batch and on an empty result', async () => {
      const batches = await collect(stream('select g from generate_series(1, 2500) g', 1000));
      expect(batches.map((b) => b.length)).toEqual([1000, 1000, 500]);
      expect(await collect(stream('select 1 as x where false'))).toEqual([]);
    });

    it('accepts a trailing semicolon and a trailing line comment', async () => {
      const batches = await collect(stream('select 1 as x; -- the usual ending\n'));
      expect(batches).toEqual([[{ x: 1 }]]);
      expect(await collect(stream('select 2 as x -- no newline after me'))).toEqual([[{ x: 2 }]]);
    });

    it('throws the warehouse message when the query fails mid-stream', async () => {
      let received = 0;
      const failing = stream('select g, 1 / (g - 30000) as boom from generate_series(1, 50000) g', 1000);
      const error = await (async () => {
        for await (const batch of failing) received += batch.length;
      })().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WarehouseError);
      expect((error as WarehouseError).message).toBe('division by zero');
      expect((error as WarehouseError).code).toBe('22012');
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(30_000);
    });

    it('refuses a query with two columns of one name', async () => {
      await expect(collect(stream('select 1 as id, 2 as id'))).rejects.toThrow(
        'the query returns two columns named "id"; give one an alias',
      );
    });

    it('fires the statement timeout with the server message', async () => {
      const error = await collect(stream('select pg_sleep(10)', 10, 200)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WarehouseError);
      expect((error as WarehouseError).message).toBe('canceling statement due to statement timeout');
      expect((error as WarehouseError).code).toBe('57014');
      await expect(wh.preview('select pg_sleep(10)', 1, { statementTimeoutMs: 200 })).rejects.toThrow(
        'canceling statement due to statement timeout',
      );
    });

    it('times the whole stream, including a slow consumer, as the contract says', async () => {
      let received = 0;
      const error = await (async () => {
        for await (const batch of stream('select g from generate_series(1, 10000) g', 1000, 500)) {
          received += batch.length;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })().catch((e: unknown) => e);
      expect((error as WarehouseError).message).toBe('canceling statement due to statement timeout');
      expect(received).toBeLessThan(10_000);
    });

    it('stops on abort, ends the query on the server and keeps the warehouse usable', async () => {
      const controller = new AbortController();
      const sql = 'select g, pg_sleep(0.001) from generate_series(1, 1000000) g /* ebb-abort-test */';
      const iterator = stream(sql, 10, 60_000, controller.signal)[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort();
      await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError' });
      const deadline = Date.now() + 10_000;
      for (;;) {
        const running = await db.admin(
          `select count(*)::int as n from pg_stat_activity where query like '%ebb-abort-test%' and pid <> pg_backend_pid()`,
        );
        if (running.rows[0].n === 0) break;
        if (Date.now() > deadline) throw new Error('the aborted query is still running on the server');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((await wh.preview('select 1 as ok', 1)).rows).toEqual([{ ok: 1 }]);
    });

    it('ends a busy query on the server on abort, before it sends any row', async () => {
      const controller = new AbortController();
      const sql = 'select count(*) from generate_series(1, 10000000000) g /* ebb-busy-abort */';
      const pending = collect(stream(sql, 10, 600_000, controller.signal));
      const activeCount = async () => {
        const result = await db.admin(
          `select count(*)::int as n from pg_stat_activity
          where state = 'active' and query like '%ebb-busy-abort%' and pid <> pg_backend_pid()`,
        );
        return result.rows[0].n as number;
      };
      await pollUntil(async () => (await activeCount()) === 1, 'the query to start');
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      await pollUntil(async () => (await activeCount()) === 0, 'the server to stop the query');
    });

    it('returns connections when a consumer stops early, so later queries still run', async () => {
      for (let i = 0; i < 8; i++) {
        for await (const batch of stream('select g from generate_series(1, 100000) g', 100)) {
          expect(batch).toHaveLength(100);
          break;
        }
      }
      expect((await wh.preview('select 42 as answer', 1)).rows).toEqual([{ answer: 42 }]);
    });
  });

  it("runs the model in the session's own time zone, so current_date means what it does in an editor", async () => {
    const expected = (await db.admin(`select current_setting('TimeZone') as tz`)).rows[0].tz;
    const [batch] = await collect(stream(`select current_setting('TimeZone') as tz`));
    expect(batch).toEqual([{ tz: expected }]);
  });

  it('reads escapes, multi-byte text and rows larger than a network chunk intact', async () => {
    const big = 'é€😀\t\n\\'.repeat(40_000);
    const batches = await collect(
      stream(
        `select g, case when g % 7 = 0 then $$${big}$$ else 'a\tb\nc\\d' || g end as t,
                case when g % 5 = 0 then null else '\\N' end as n
         from generate_series(1, 50) g order by g`,
        3,
      ),
    );
    expect(batches.map((b) => b.length)).toEqual([...Array(16).fill(3), 2]);
    const rows = batches.flat();
    expect(rows[6]).toEqual({ g: 7, t: big, n: '\\N' });
    expect(rows[0]).toEqual({ g: 1, t: 'a\tb\nc\\d1', n: '\\N' });
    expect(rows[4]?.n).toBeNull();
  });
});

describe('postgres warehouse: columns, preview, test', () => {
  it('describes columns without reading rows', async () => {
    const columns = await wh.columns(
      `select g as id, (g * 1.5)::numeric(12,2) as amount, now() as at, 'x'::varchar(20) as name,
              g / 0 as never_evaluated from generate_series(1, 10) g`,
    );
    expect(columns).toEqual([
      { name: 'id', type: 'integer' },
      { name: 'amount', type: 'numeric(12,2)' },
      { name: 'at', type: 'timestamp with time zone' },
      { name: 'name', type: 'character varying(20)' },
      { name: 'never_evaluated', type: 'integer' },
    ]);
  });

  it('previews at most the limit', async () => {
    const preview = await wh.preview('select g as id from generate_series(1, 100) g order by g', 3);
    expect(preview).toEqual({
      columns: [{ name: 'id', type: 'integer' }],
      rows: [{ id: 1 }, { id: 2 }, { id: 3 }],
    });
  });

  it('reports success with the server version', async () => {
    const result = await wh.test();
    expect(result.ok).toBe(true);
    expect(result.message).toMatch(/^PostgreSQL \d+/);
  });

  it('reports a failed connection test in the server words', async () => {
    const url = new URL(db.url);
    url.pathname = '/ebb_wh_does_not_exist';
    const missing = await openWarehouse('postgres', { url: url.toString() });
    expect(await missing.test()).toEqual({
      ok: false,
      message: 'database "ebb_wh_does_not_exist" does not exist',
    });
    await missing.close();

    const refused = await openWarehouse('postgres', {
      host: '127.0.0.1',
      port: 1,
      database: 'x',
      user: 'x',
      password: 'secret',
    });
    expect(await refused.test()).toEqual({ ok: false, message: 'connect ECONNREFUSED 127.0.0.1:1' });
    await expect(refused.preview('select 1', 1)).rejects.toThrow(WarehouseError);
    await refused.close();
  });
});

describe('postgres warehouse: model SQL cannot write', () => {
  const copyTarget = path.join(tmpdir(), `ebb-wh-copy-${process.pid}.csv`);
  const attempts = [
    'insert into guarded values (4)',
    'drop table guarded',
    'create table stolen as select * from guarded',
    `copy (select * from guarded) to '${copyTarget}'`,
    'select 1; drop table guarded',
    'with d as (delete from guarded returning *) select * from d',
    'update guarded set id = id + 100 returning id',
    'select wipe_guarded()',
    `select set_config('transaction_read_only', 'off', true), wipe_guarded()`,
  ];

  beforeAll(async () => {
    await db.admin('create table guarded (id int primary key)');
    await db.admin('insert into guarded values (1), (2), (3)');
    await db.admin(
      'create function wipe_guarded() returns int language sql as $$ delete from guarded returning 1 $$',
    );
  });

  it.each(attempts)('refuses %s and leaves the table unchanged', async (sql) => {
    await expect(collect(stream(sql))).rejects.toThrow(WarehouseError);
    await expect(wh.preview(sql, 10)).rejects.toThrow(WarehouseError);
    // Describing columns runs nothing, so a function that would write may describe fine.
    await wh.columns(sql).catch((error: unknown) => expect(error).toBeInstanceOf(WarehouseError));
    const after = await db.admin('select array_agg(id order by id) as ids from guarded');
    expect(after.rows[0].ids).toEqual([1, 2, 3]);
    const stolen = await db.admin(`select to_regclass('stolen') as t`);
    expect(stolen.rows[0].t).toBeNull();
    expect(existsSync(copyTarget)).toBe(false);
  });

  it('says why a write through a function fails', async () => {
    await expect(wh.preview('select wipe_guarded()', 1)).rejects.toThrow(
      'cannot execute DELETE in a read-only transaction',
    );
  });
});
