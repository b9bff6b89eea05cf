import { afterEach, describe, expect, it } from 'vitest';
import { apiKeys } from '../../src/db/schema/index.ts';
import { copyLine } from '../../src/db/store.ts';
import { createTestStore, type TestStore } from '../helpers/store.ts';

let store: TestStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe('state store', () => {
  it('starts migrated, and migrating again applies nothing', async () => {
    store = await createTestStore();
    expect(await store.migrate()).toBe(0);
    const tables = await store.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining([
        'api_keys',
        'sources',
        'models',
        'destinations',
        'syncs',
        'sync_runs',
        'run_records',
        'sync_snapshots',
      ]),
    );
  });

  it('reads and writes through drizzle and raw SQL alike', async () => {
    store = await createTestStore();
    await store.db
      .insert(apiKeys)
      .values({ id: 'key_1', name: 'ci', role: 'admin', prefix: 'ebb_abc', secretHash: 'h1' });
    const rows = await store.query<{ name: string }>('select name from api_keys where id = $1', ['key_1']);
    expect(rows).toEqual([{ name: 'ci' }]);
  });

  it('rolls a failed transaction back', async () => {
    store = await createTestStore();
    const failing = store.transaction(async (tx) => {
      await tx.execute(
        `insert into api_keys (id, name, role, prefix, secret_hash) values ('k', 'n', 'viewer', 'p', 'h')`,
      );
      throw new Error('boom');
    });
    await expect(failing).rejects.toThrow('boom');
    expect(await store.query('select * from api_keys')).toEqual([]);
  });

  it('bulk-loads with COPY, escaping tabs, newlines, backslashes and nulls', async () => {
    store = await createTestStore();
    await store.execute('create unlogged table copy_probe (a text, b text)');
    const values: [string, string | null][] = [
      ['plain', 'x'],
      ['tab\there', null],
      ['new\nline\\slash', 'ü ✓'],
    ];
    async function* chunks() {
      for (const v of values) yield copyLine(v);
    }
    await store.copyIn('copy_probe', ['a', 'b'], chunks());
    const rows = await store.query<{ a: string; b: string | null }>('select a, b from copy_probe order by a');
    expect(rows.map((r) => [r.a, r.b])).toEqual([...values].sort((x, y) => (x[0] < y[0] ? -1 : 1)));
  });
});

describe('state store COPY failures', () => {
  it('fails cleanly when the row source throws mid-COPY, and the store stays usable', async () => {
    store = await createTestStore();
    await store.execute('create unlogged table copy_fail (a text)');
    async function* chunks() {
      yield copyLine(['one']);
      throw new Error('source broke');
    }
    await expect(store.copyIn('copy_fail', ['a'], chunks())).rejects.toThrow('source broke');
    for (let i = 0; i < 12; i++) expect(await store.query('select 1 as ok')).toEqual([{ ok: 1 }]);
  });

  it('reports a row the server refuses', async () => {
    store = await createTestStore();
    await store.execute('create unlogged table copy_typed (n integer)');
    async function* chunks() {
      yield copyLine(['1']);
      yield copyLine(['not a number']);
    }
    await expect(store.copyIn('copy_typed', ['n'], chunks())).rejects.toThrow(
      /invalid input syntax for type integer/,
    );
    expect(await store.query('select count(*)::int as n from copy_typed')).toEqual([{ n: 0 }]);
  });
});
