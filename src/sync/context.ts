import { z } from 'zod';
import type { Connector } from '../../connectors/types.ts';
import type { Store } from '../db/client.ts';
import type { FieldMapping, IdentifierMapping, RunPhase, SyncMode } from '../db/schema/index.ts';
import type { Logger } from '../logger.ts';
import type { SecretBox } from '../secrets/box.ts';
import { mergeSecrets } from '../secrets/split.ts';
import type { WarehouseDriver } from '../warehouses/types.ts';
import type { LimiterRegistry } from './deliver/limiters.ts';
import type { Clock, RetryPolicy } from './deliver/retry.ts';
import type { PlanInput, PlanResult } from './plan/index.ts';

/** The planner's contract is its own (src/sync/plan); the engine only names it, so tests can inject one. */
export type { PlanInput as PlanRunInput, PlannedCounts, PlanResult } from './plan/index.ts';

/**
 * Writes the run's outbox (pending run_records) from the model and the snapshot. Idempotent per run, so
 * a resumed run may call it again; a dry run writes nothing.
 */
export type PlanRunFn = (store: Store, input: PlanInput) => Promise<PlanResult>;

/**
 * Everything the engine needs, injected, so tests can pass an in-process connector, a fake clock and a
 * fake planner, and the CLI the real registries.
 */
export interface EngineDeps {
  store: Store;
  secrets: SecretBox;
  logger: Logger;
  connectors: Record<string, Connector>;
  warehouses: Record<string, WarehouseDriver>;
  limiters: LimiterRegistry;
  planRun: PlanRunFn;
  config: { warehouseStatementTimeoutMs: number; allowPrivateNetwork: boolean; redisUrl?: string };
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
}

/** A run as a worker holds it: claimed, with its lease. */
export interface ClaimedRun {
  id: string;
  syncId: string;
  workerId: string;
  attempt: number;
  phase: RunPhase;
  fullResync: boolean;
  dryRun: boolean;
  allowMassDelete: boolean;
}

export interface SyncRow {
  id: string;
  name: string;
  object: string;
  mode: SyncMode;
  identifier: IdentifierMapping | null;
  mappings: FieldMapping[];
  massDeleteMaxShare: number;
  massDeleteMinCount: number;
  pausedReason: string | null;
}

/** A run's sync with its model, source and destination, configs decrypted and validated. */
export interface RunContext {
  sync: SyncRow;
  model: { id: string; sql: string; primaryKey: string };
  source: { id: string; kind: string; driver: WarehouseDriver; config: unknown };
  destination: { id: string; kind: string; connector: Connector; config: unknown };
}

/** A run that cannot start for a reason its owner can fix; the message says how. */
export class RunSetupError extends Error {
  override name = 'RunSetupError';
}

interface JoinedRow extends SyncRow {
  modelId: string;
  sql: string;
  primaryKey: string;
  sourceId: string;
  sourceKind: string;
  sourceConfig: Record<string, unknown>;
  sourceSecrets: string | null;
  destinationId: string;
  destinationKind: string;
  destinationConfig: Record<string, unknown>;
  destinationSecrets: string | null;
}

export async function loadRunContext(deps: EngineDeps, syncId: string): Promise<RunContext> {
  const [row] = await deps.store.query<JoinedRow>(
    `select s.id, s.name, s.object, s.mode, s.identifier, s.mappings,
       s.mass_delete_max_share as "massDeleteMaxShare", s.mass_delete_min_count as "massDeleteMinCount",
       s.paused_reason as "pausedReason",
       m.id as "modelId", m.sql, m.primary_key as "primaryKey",
       src.id as "sourceId", src.kind as "sourceKind", src.config as "sourceConfig", src.secrets as "sourceSecrets",
       d.id as "destinationId", d.kind as "destinationKind", d.config as "destinationConfig",
       d.secrets as "destinationSecrets"
     from syncs s
     join models m on m.id = s.model_id
     join sources src on src.id = m.source_id
     join destinations d on d.id = s.destination_id
     where s.id = $1`,
    [syncId],
  );
  if (!row) throw new RunSetupError(`sync ${syncId} no longer exists`);
  const driver = deps.warehouses[row.sourceKind];
  if (!driver) throw new RunSetupError(`source kind "${row.sourceKind}" is not available in this build`);
  const connector = deps.connectors[row.destinationKind];
  if (!connector) {
    throw new RunSetupError(`destination kind "${row.destinationKind}" is not available in this build`);
  }
  const sourceConfig = driver.configSchema.safeParse(
    mergeSecrets({ config: row.sourceConfig, secrets: row.sourceSecrets }, deps.secrets),
  );
  if (!sourceConfig.success) {
    throw new RunSetupError(
      `source ${row.sourceId} has an invalid config: ${z.prettifyError(sourceConfig.error)}`,
    );
  }
  const destinationConfig = connector.configSchema.safeParse(
    mergeSecrets({ config: row.destinationConfig, secrets: row.destinationSecrets }, deps.secrets),
  );
  if (!destinationConfig.success) {
    throw new RunSetupError(
      `destination ${row.destinationId} has an invalid config: ${z.prettifyError(destinationConfig.error)}`,
    );
  }
  return {
    sync: {
      id: row.id,
      name: row.name,
      object: row.object,
      mode: row.mode,
      identifier: row.identifier,
      mappings: row.mappings,
      massDeleteMaxShare: Number(row.massDeleteMaxShare),
      massDeleteMinCount: Number(row.massDeleteMinCount),
      pausedReason: row.pausedReason,
    },
    model: { id: row.modelId, sql: row.sql, primaryKey: row.primaryKey },
    source: { id: row.sourceId, kind: row.sourceKind, driver, config: sourceConfig.data },
    destination: {
      id: row.destinationId,
      kind: row.destinationKind,
      connector,
      config: destinationConfig.data,
    },
  };
}
