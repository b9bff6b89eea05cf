import { duckdbDriver } from './duckdb.ts';
import { postgresDriver } from './postgres.ts';
import { type Warehouse, type WarehouseDriver, WarehouseError } from './types.ts';

/**
 * Erases a driver's config type for the registry. Safe by construction: `openWarehouse` only ever
 * calls a driver's `open` with the output of the same driver's `configSchema.parse`.
 */
export function defineWarehouse<Config>(driver: WarehouseDriver<Config>): WarehouseDriver {
  return driver as unknown as WarehouseDriver;
}

/**
 * Every source kind Ebb ships. The record is exhaustive over `WarehouseKind`, so a kind that is
 * declared but not wired in fails `tsc`.
 */
export const warehouseKinds = ['postgres', 'duckdb'] as const;
export type WarehouseKind = (typeof warehouseKinds)[number];

export const warehouseDrivers: Record<WarehouseKind, WarehouseDriver> = {
  postgres: defineWarehouse(postgresDriver),
  duckdb: defineWarehouse(duckdbDriver),
};

export function isWarehouseKind(kind: string): kind is WarehouseKind {
  return (warehouseKinds as readonly string[]).includes(kind);
}

/**
 * Validates a source's config for its kind and opens it. Every failure, including an unknown kind and
 * an invalid config, is a `WarehouseError` whose message names the field, e.g. `invalid postgres
 * config: port: Too big: expected number to be <=65535`.
 */
export async function openWarehouse(kind: string, config: unknown): Promise<Warehouse> {
  if (!isWarehouseKind(kind)) {
    throw new WarehouseError(`unknown source kind "${kind}"; expected one of: ${warehouseKinds.join(', ')}`);
  }
  const driver = warehouseDrivers[kind];
  const parsed = driver.configSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
    );
    throw new WarehouseError(`invalid ${kind} config: ${problems.join('; ')}`);
  }
  return driver.open(parsed.data);
}

export type { Warehouse, WarehouseDriver } from './types.ts';
export { WarehouseError } from './types.ts';
