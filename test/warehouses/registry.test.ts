import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { customersCsvPath, generateCustomers } from '../../src/demo/generate.ts';
import {
  isWarehouseKind,
  openWarehouse,
  warehouseDrivers,
  warehouseKinds,
} from '../../src/warehouses/index.ts';
import { WarehouseError, type WarehouseRow } from '../../src/warehouses/types.ts';

describe('warehouse registry', () => {
  it('lists every kind with a driver of that kind', () => {
    expect([...warehouseKinds]).toEqual(['postgres', 'duckdb']);
    for (const kind of warehouseKinds) expect(warehouseDrivers[kind].kind).toBe(kind);
    expect(isWarehouseKind('duckdb')).toBe(true);
    expect(isWarehouseKind('snowflake')).toBe(false);
  });

  it('marks the Postgres url and password as secret', () => {
    expect(warehouseDrivers.postgres.secretFields).toEqual(['url', 'password']);
    expect(warehouseDrivers.duckdb.secretFields).toEqual([]);
  });

  it('refuses an unknown kind by name', async () => {
    await expect(openWarehouse('snowflake', {})).rejects.toThrow(
      new WarehouseError('unknown source kind "snowflake"; expected one of: postgres, duckdb'),
    );
  });

  it('names each invalid field of a config', async () => {
    await expect(openWarehouse('postgres', { host: 'db.internal', port: 70000 })).rejects.toThrow(
      new WarehouseError(
        'invalid postgres config: port: Too big: expected number to be <=65535; database: is required when no url is given; user: is required when no url is given',
      ),
    );
    await expect(openWarehouse('postgres', { url: 'mysql://x' })).rejects.toThrow(
      'invalid postgres config: url: must be a URL such as postgres://user:password@host:5432/database',
    );
    await expect(openWarehouse('duckdb', { file: 'x.duckdb' })).rejects.toThrow(
      'invalid duckdb config: Unrecognized key: "file"',
    );
    await expect(openWarehouse('postgres', null)).rejects.toBeInstanceOf(WarehouseError);
  });
});

describe('demo dataset', () => {
  it('is exactly what the seeded generator writes', async () => {
    expect(await readFile(customersCsvPath, 'utf8')).toBe(generateCustomers());
  });

  it('loads through the README quickstart source and model', async () => {
    const wh = await openWarehouse('duckdb', { directory: 'src/demo' });
    try {
      const rows: WarehouseRow[] = [];
      for await (const batch of wh.stream('select * from customers', {
        batchSize: 250,
        statementTimeoutMs: 30_000,
      })) {
        rows.push(...batch);
      }
      expect(rows).toHaveLength(1000);
      expect(new Set(rows.map((r) => r.id)).size).toBe(1000);
      expect(rows.every((r) => r.id !== null && r.email !== null)).toBe(true);
      expect(new Set(rows.map((r) => r.email)).size).toBe(1000);
      const columns = await wh.columns('select * from customers');
      expect(columns).toEqual([
        { name: 'id', type: 'BIGINT' },
        { name: 'email', type: 'VARCHAR' },
        { name: 'first_name', type: 'VARCHAR' },
        { name: 'last_name', type: 'VARCHAR' },
        { name: 'company', type: 'VARCHAR' },
        { name: 'plan', type: 'VARCHAR' },
        { name: 'lifetime_value', type: 'DOUBLE' },
        { name: 'signed_up_at', type: 'TIMESTAMP' },
        { name: 'updated_at', type: 'TIMESTAMP' },
      ]);
      expect(rows[0]).toMatchObject({ id: 1n, signed_up_at: expect.any(Date) });
    } finally {
      await wh.close();
    }
  });
});
