import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarehouse } from '../../src/warehouses/index.ts';
import type { Warehouse } from '../../src/warehouses/types.ts';

// A model author must not be able to read Ebb's data folder (its secret key) or any other file of
// the machine through DuckDB's file functions: only the source's own directory.
let root: string;
let dataDir: string;
let wh: Warehouse;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'ebb-duck-sandbox-'));
  dataDir = path.join(root, 'data');
  const secretDir = path.join(root, '.ebb');
  await import('node:fs/promises').then((fs) => Promise.all([fs.mkdir(dataDir), fs.mkdir(secretDir)]));
  await writeFile(path.join(dataDir, 'people.csv'), 'id,name\n1,Ada\n2,Grace\n');
  await writeFile(path.join(dataDir, 'Order Lines.parquet.csv'), 'id\n7\n');
  await writeFile(path.join(secretDir, 'secret.key'), 'c2VjcmV0\n');
  wh = await openWarehouse('duckdb', { directory: dataDir });
});

afterAll(async () => {
  await wh.close();
  await rm(root, { recursive: true, force: true });
});

describe('duckdb sandbox', () => {
  it('exposes each data file of the directory as a view named after it', async () => {
    expect((await wh.preview('select * from people order by id', 10)).rows).toEqual([
      { id: 1n, name: 'Ada' },
      { id: 2n, name: 'Grace' },
    ]);
    expect((await wh.preview('select id from order_lines_parquet', 10)).rows).toEqual([{ id: 7n }]);
  });

  it('reads files inside the directory by absolute path', async () => {
    const rows = (
      await wh.preview(`select count(*) as n from read_csv('${path.join(dataDir, 'people.csv')}')`, 1)
    ).rows;
    expect(rows).toEqual([{ n: 2n }]);
  });

  it.each([
    [
      'a file outside the directory',
      () => `select * from read_csv('${path.join(root, '.ebb', 'secret.key')}')`,
    ],
    [
      'a path that climbs out of the directory',
      () => `select * from read_csv('${dataDir}/../.ebb/secret.key')`,
    ],
    ['a relative path', () => `select * from read_csv('../.ebb/secret.key')`],
    ['a system file', () => `select * from read_text('/etc/passwd')`],
  ])('refuses %s, saying where files may be read from', async (_label, sql) => {
    await expect(wh.preview(sql(), 1)).rejects.toThrow(/can read files only inside the source's directory/);
  });

  it('cannot lift the sandbox from model SQL', async () => {
    await expect(wh.preview("select current_setting('enable_external_access') as v", 1)).resolves.toEqual(
      expect.objectContaining({ rows: [{ v: false }] }),
    );
    await expect(wh.preview('set enable_external_access = true', 1)).rejects.toThrow(/SELECT/);
  });

  it('refuses every file to a source without a directory', async () => {
    const bare = await openWarehouse('duckdb', {});
    try {
      await expect(
        bare.preview(`select * from read_csv('${path.join(dataDir, 'people.csv')}')`, 1),
      ).rejects.toThrow(/has no directory, so its models cannot read files/);
      expect((await bare.preview('select 42 as answer', 1)).rows).toEqual([{ answer: 42 }]);
    } finally {
      await bare.close();
    }
  });
});
