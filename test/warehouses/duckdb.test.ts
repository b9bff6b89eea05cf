import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarehouse } from '../../src/warehouses/index.ts';
import type { Warehouse, WarehouseRow } from '../../src/warehouses/types.ts';
import { WarehouseError } from '../../src/warehouses/types.ts';

let dir: string;
let wh: Warehouse;

async function collect(iterable: AsyncIterable<WarehouseRow[]>): Promise<WarehouseRow[][]> {
  const batches: WarehouseRow[][] = [];
  for await (const batch of iterable) batches.push(batch);
  return batches;
}

const stream = (sql: string, batchSize = 1000, statementTimeoutMs = 30_000, signal?: AbortSignal) =>
  wh.stream(sql, { batchSize, statementTimeoutMs, signal });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ebb-wh-duckdb-'));
  // A database file with a table, written before the warehouse opens it read-only.
  const writer = await DuckDBInstance.create(path.join(dir, 'shop.duckdb'));
  const connection = await writer.connect();
  await connection.run('create table guarded as select * from (values (1), (2), (3)) v(id)');
  connection.closeSync();
  writer.closeSync();
  await writeFile(path.join(dir, 'people.csv'), 'id,name,amount\n1,Ada,12.50\n2,Grace,7.25\n');
  const lines = ['id,score'];
  for (let i = 1; i <= 200_000; i++) lines.push(`${i},${i === 150_000 ? 'oops' : i % 100}`);
  await writeFile(path.join(dir, 'scores.csv'), `${lines.join('\n')}\n`);
  wh = await openWarehouse('duckdb', { directory: dir, database: 'shop.duckdb' });
});

afterAll(async () => {
  await wh?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('duckdb warehouse: values', () => {
  it('maps every documented type to its canonical JavaScript value', async () => {
    const [batch] = await collect(
      stream(`select 12345678901234567890::hugeint as h, 9007199254740993::bigint as b, 5::ubigint as ub,
        -3::tinyint as ti, 7::uinteger as ui, 1.5::double as f, 12.50::decimal(10,2) as d,
        12345678901234567890.0123456789::decimal(38,10) as d38, true as bo,
        timestamp '2024-01-02 03:04:05.678' as ts, timestamptz '2024-01-02 03:04:05.678+02' as tstz,
        '2024-01-02 03:04:05'::timestamp_s as tss, date '2024-02-29' as dt, [1, null, 3] as l,
        [[1, 2], [3]] as nested, {'a': 1, 'b': [true]} as s, map {'k': 1, 'j': 2} as m,
        '\\x00\\xFF'::blob as bl, '{"a": [1, null]}'::json as j, 'x' as v, null as n,
        uuid '00000000-0000-0000-0000-000000000001' as u, interval 1 day as iv, time '12:30:00' as tm,
        'infinity'::timestamp as inf`),
    );
    expect(batch).toEqual([
      {
        h: 12345678901234567890n,
        b: 9007199254740993n,
        ub: 5n,
        ti: -3,
        ui: 7,
        f: 1.5,
        d: '12.50',
        d38: '12345678901234567890.0123456789',
        bo: true,
        ts: new Date('2024-01-02T03:04:05.678Z'),
        tstz: new Date('2024-01-02T01:04:05.678Z'),
        tss: new Date('2024-01-02T03:04:05Z'),
        dt: '2024-02-29',
        l: [1, null, 3],
        nested: [[1, 2], [3]],
        s: { a: 1, b: [true] },
        m: { k: 1, j: 2 },
        bl: new Uint8Array([0, 255]),
        j: { a: [1, null] },
        v: 'x',
        n: null,
        u: '00000000-0000-0000-0000-000000000001',
        iv: '1 day',
        tm: '12:30:00',
        inf: 'infinity',
      },
    ]);
  });
});

describe('duckdb warehouse: files and tables', () => {
  it('reads CSV files of the configured directory through views named after them', async () => {
    const preview = await wh.preview('select * from people order by id', 10);
    expect(preview).toEqual({
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'name', type: 'VARCHAR' },
        { name: 'amount', type: 'DOUBLE' },
      ],
      rows: [
        { id: 1n, name: 'Ada', amount: 12.5 },
        { id: 2n, name: 'Grace', amount: 7.25 },
      ],
    });
  });

  it('reads tables of the database file', async () => {
    expect((await wh.preview('select id from guarded order by id', 2)).rows).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('describes columns without running the query', async () => {
    const columns = await wh.columns(
      "select id, amount::decimal(12,2) as amount, error('never evaluated') as boom from people",
    );
    expect(columns.map((c) => c.name)).toEqual(['id', 'amount', 'boom']);
    expect(columns.slice(0, 2)).toEqual([
      { name: 'id', type: 'BIGINT' },
      { name: 'amount', type: 'DECIMAL(12,2)' },
    ]);
  });
});

describe('duckdb warehouse: streaming', () => {
  it('yields batches no larger than batchSize and every row once', async () => {
    const batches = await collect(stream('select range as id from range(1, 50001) order by id', 1000));
    expect(batches).toHaveLength(50);
    expect(batches.every((b) => b.length <= 1000 && b.length > 0)).toBe(true);
    const ids = batches.flat().map((r) => r.id);
    expect(ids).toHaveLength(50_000);
    expect(new Set(ids).size).toBe(50_000);
  });

  it('throws the warehouse message when the query fails mid-stream', async () => {
    let received = 0;
    const error = await (async () => {
      for await (const batch of stream('select id, score::int as score from scores', 1000)) {
        received += batch.length;
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarehouseError);
    expect((error as WarehouseError).message).toContain('oops');
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(200_000);
  });

  it('refuses a query with two columns of one name', async () => {
    await expect(collect(stream('select 1 as id, 2 as id'))).rejects.toThrow(
      'the query returns two columns named "id"; give one an alias',
    );
  });

  it('fires the statement timeout', async () => {
    const error = await collect(stream('select count(*) from range(100000000000)', 10, 200)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WarehouseError);
    expect((error as WarehouseError).message).toBe('canceling statement due to statement timeout (200 ms)');
    expect((error as WarehouseError).code).toBe('57014');
  });

  it('fires the statement timeout between batches of a streaming scan', async () => {
    let received = 0;
    const error = await (async () => {
      for await (const batch of stream('select range as id from range(100000000000)', 1000, 300)) {
        received += batch.length;
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WarehouseError);
    expect((error as WarehouseError).message).toBe('canceling statement due to statement timeout (300 ms)');
    expect(received).toBeGreaterThan(0);
  });

  it('stops on abort between batches of a streaming scan', async () => {
    const controller = new AbortController();
    let batches = 0;
    const error = await (async () => {
      for await (const _ of stream(
        'select range from range(100000000000)',
        1000,
        60_000,
        controller.signal,
      )) {
        batches++;
        if (batches === 3) controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(batches).toBeLessThan(10);
  });

  it('stops on abort and keeps the warehouse usable', async () => {
    const controller = new AbortController();
    const rows = stream('select count(*) from range(100000000000)', 10, 60_000, controller.signal);
    const pending = collect(rows);
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect((await wh.preview('select 1 as ok', 1)).rows).toEqual([{ ok: 1 }]);
  });

  it('refuses to start when the signal is already aborted', async () => {
    await expect(collect(stream('select 1', 10, 1000, AbortSignal.abort()))).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

describe('duckdb warehouse: model SQL cannot write', () => {
  const copyTarget = path.join(tmpdir(), `ebb-wh-duck-copy-${process.pid}.csv`);
  const attempts: [string, string | RegExp][] = [
    ['insert into guarded values (4)', 'read-only'],
    ['drop table guarded', 'DROP statement is refused'],
    ['create table stolen as select * from guarded', 'CREATE statement is refused'],
    [
      `copy (select * from guarded) to '${copyTarget}'`,
      /COPY statement is refused|can read files only inside/,
    ],
    ['select 1; drop table guarded', 'exactly one SELECT statement; it has 2 statements'],
    ['with d as (delete from guarded returning *) select * from d', 'Parser Error'],
    ['update guarded set id = id + 100', 'read-only'],
    [`attach '${path.join(tmpdir(), 'ebb-other.duckdb')}' as other`, 'ATTACH statement is refused'],
    ['install httpfs', 'LOAD statement is refused'],
    ['load parquet', 'LOAD statement is refused'],
    ['set threads = 1', 'SET statement is refused'],
    ["pragma memory_limit = '1GB'", 'statement is refused'],
    ['call pragma_version()', 'CALL statement is refused'],
    ['', 'the model SQL is empty'],
  ];

  it.each(attempts)('refuses %s and leaves the table unchanged', async (sql, message) => {
    await expect(collect(stream(sql))).rejects.toThrow(message);
    await expect(wh.preview(sql, 10)).rejects.toThrow(WarehouseError);
    await expect(wh.columns(sql)).rejects.toThrow(WarehouseError);
    expect((await wh.preview('select list(id order by id) as ids from guarded', 1)).rows).toEqual([
      { ids: [1, 2, 3] },
    ]);
    await expect(wh.columns('select * from stolen')).rejects.toThrow('stolen');
    expect(existsSync(copyTarget)).toBe(false);
  });
});

describe('duckdb warehouse: extensions', () => {
  it('does not download an extension a model asks for', async () => {
    // Where httpfs was installed by hand it loads and the request fails on the closed port instead.
    await expect(wh.preview("select * from read_csv('https://127.0.0.1:9/x.csv')", 1)).rejects.toThrow(
      /Install it first using "INSTALL httpfs"|127\.0\.0\.1|Permission Error/,
    );
  });
});

describe('duckdb warehouse: connection test and lifecycle', () => {
  it('reports success with the DuckDB version', async () => {
    expect(await wh.test()).toEqual({ ok: true, message: expect.stringMatching(/^DuckDB v\d/) });
  });

  it('reports a missing file or folder, and a corrupt database in DuckDB words', async () => {
    const missing = await openWarehouse('duckdb', { database: path.join(dir, 'nope.duckdb') });
    expect(await missing.test()).toEqual({
      ok: false,
      message: `DuckDB database file not found: ${path.join(dir, 'nope.duckdb')}`,
    });
    await missing.close();

    const noFolder = await openWarehouse('duckdb', { directory: path.join(dir, 'absent') });
    expect(await noFolder.test()).toEqual({
      ok: false,
      message: `DuckDB directory not found: ${path.join(dir, 'absent')}`,
    });
    await noFolder.close();

    await writeFile(path.join(dir, 'corrupt.duckdb'), 'this is not a database'.repeat(500));
    const corrupt = await openWarehouse('duckdb', { directory: dir, database: 'corrupt.duckdb' });
    const result = await corrupt.test();
    expect(result.ok).toBe(false);
    expect(result.message).toContain('corrupt.duckdb');
    await expect(corrupt.preview('select 1', 1)).rejects.toThrow(WarehouseError);
    await corrupt.close();
  });

  it('ends a stream that is still running when the warehouse closes', async () => {
    const own = await openWarehouse('duckdb', {});
    const iterator = own
      .stream('select range from range(100000000)', { batchSize: 1000, statementTimeoutMs: 60_000 })
      [Symbol.asyncIterator]();
    expect((await iterator.next()).value).toHaveLength(1000);
    await own.close();
    await expect(iterator.next()).rejects.toThrow('the DuckDB warehouse was closed during the query');
  });

  it('refuses work after close, and closing twice is harmless', async () => {
    const own = await openWarehouse('duckdb', {});
    expect((await own.preview('select 1 as x', 1)).rows).toEqual([{ x: 1 }]);
    await own.close();
    await own.close();
    await expect(own.preview('select 1', 1)).rejects.toThrow('the DuckDB warehouse is closed');
  });
});
