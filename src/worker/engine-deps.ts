import type { Connector } from '../../connectors/types.ts';
import type { Runtime } from '../runtime.ts';
import type { EngineDeps } from '../sync/context.ts';
import { createLimiterRegistry } from '../sync/deliver/limiters.ts';
import { planRun } from '../sync/plan/index.ts';
import type { WarehouseDriver } from '../warehouses/types.ts';

/**
 * The engine's dependencies for one process, from its runtime and the shipped registries. One limiter
 * registry per process, so every sync (and the CLI's in-process runs) shares each credential's limit;
 * close it when the process stops.
 */
export function createEngineDeps(
  runtime: Runtime,
  registries: { connectors: Record<string, Connector>; warehouses: Record<string, WarehouseDriver> },
): EngineDeps {
  return {
    store: runtime.store,
    secrets: runtime.secrets,
    logger: runtime.logger,
    connectors: registries.connectors,
    warehouses: registries.warehouses,
    limiters: createLimiterRegistry({ redisUrl: runtime.config.redisUrl }),
    planRun,
    config: {
      warehouseStatementTimeoutMs: runtime.config.warehouseStatementTimeoutMs,
      allowPrivateNetwork: runtime.config.allowPrivateNetwork,
      redisUrl: runtime.config.redisUrl,
    },
  };
}
