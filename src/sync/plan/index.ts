import { availableParallelism } from 'node:os';
import type { FieldMapping, IdentifierMapping, SyncMode } from '../../db/schema/index.ts';
import type { Queryable, Store } from '../../db/store.ts';
import type { Logger } from '../../logger.ts';
import type { Warehouse } from '../../warehouses/types.ts';
import { createBatchEncoder } from './batch-encoder.ts';
import {
  countDiff,
  countSnapshot,
  type DiffContext,
  operationFor,
  type PlannedCounts,
  type PlanSample,
  sampleDiff,
  writeOutbox,
} from './diff.ts';
import { createStage, dropStage, findDuplicates, loadStage, stageTables } from './stage.ts';

export type { PlannedCounts, PlanSample } from './diff.ts';
export { invalidReasons } from './encode.ts';

export interface PlanInput {
  runId: string;
  syncId: string;
  mode: SyncMode;
  fullResync: boolean;
  dryRun: boolean;
  /** The model column holding the primary key. */
  primaryKey: string;
  mappings: FieldMapping[];
  identifier: IdentifierMapping | null;
  sql: string;
  warehouse: Warehouse;
  statementTimeoutMs: number;
  signal: AbortSignal;
  logger: Logger;
  onProgress?: (p: { rowsRead: number }) => void;
  /** Rows per warehouse batch; memory is bounded by this. */
  batchSize?: number;
  /** Encode on a worker thread from the second batch on; by default only with three or more cores. */
  encodeOnThread?: boolean;
}

export interface PlanResult {
  rows: number;
  invalid: number;
  planned: PlannedCounts;
  /** Records in the sync's snapshot before this run, for the mass-delete guard. */
  snapshotSize: number;
  /** Dry runs only: up to ten rows of each kind of change. */
  sample?: { added: PlanSample[]; changed: PlanSample[]; removed: PlanSample[] };
}

export type PlanErrorCode = 'missing_column' | 'invalid_mapping';

/** A plan that cannot run as configured; the message is written for the person who configured it. */
export class PlanError extends Error {
  override name = 'PlanError';
  readonly code: PlanErrorCode;
  constructor(code: PlanErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Rows per warehouse batch. Measured paired on the bench model (10 columns, 500k rows): 1,000 loads
 * about 10% faster than 5,000 with less CPU and heap; 2,000 was in between.
 */
const DEFAULT_BATCH_SIZE = 1000;
/**
 * Encoding on a second thread costs about 40% more CPU in total (cloning the batch), which pays only
 * when a core is free for it: on two cores, the warehouse and state-store backends already use the
 * second one, and measured wall time did not improve. So it is on by default only from three cores.
 */
const OFFLOAD_FROM_CORES = 3;
/**
 * Memory for the diff's hash joins, for this transaction only: at 1M rows the snapshot's hash table is
 * about 80 MB, and the default 4 MB splits it into batches spilled to disk.
 */
const DIFF_WORK_MEM = '64MB';

function checkMappings(input: PlanInput): void {
  const seen = new Set<string>();
  for (const mapping of input.mappings) {
    if (seen.has(mapping.to)) {
      throw new PlanError('invalid_mapping', `destination field "${mapping.to}" is mapped more than once`);
    }
    seen.add(mapping.to);
  }
}

/** Fails before reading any row when a column the sync needs is not in the model's result. */
async function checkColumns(input: PlanInput): Promise<void> {
  const columns = await input.warehouse.columns(input.sql, { statementTimeoutMs: input.statementTimeoutMs });
  const names = new Set(columns.map((c) => c.name));
  const needed: [string, string][] = [
    ['primary key column', input.primaryKey],
    ...input.mappings.map((m): [string, string] => ['mapped column', m.from]),
  ];
  if (input.identifier) needed.push(['identifier column', input.identifier.from]);
  const missing = needed.filter(([, name]) => !names.has(name));
  if (missing.length === 0) return;
  const list = missing.map(([role, name]) => `${role} "${name}"`).join(', ');
  const existing = columns.map((c) => c.name).join(', ') || '(none)';
  throw new PlanError(
    'missing_column',
    `${list} ${missing.length === 1 ? 'is' : 'are'} not in the model's result; its columns are: ${existing}`,
  );
}

/**
 * Extracts the model, validates, maps and fingerprints every row, stages it, diffs it against the
 * sync's snapshot in SQL and writes the run's outbox to `run_records`. Safe to call again for the same
 * run: the outbox is replaced atomically, so a run that crashed while planning resumes cleanly.
 */
export async function planRun(store: Store, input: PlanInput): Promise<PlanResult> {
  checkMappings(input);
  const started = performance.now();
  const tables = stageTables(input.runId);
  if (!input.dryRun) await store.execute('delete from run_records where run_id = $1', [input.runId]);
  await checkColumns(input);
  await createStage(store, tables);
  try {
    const offload = input.encodeOnThread ?? availableParallelism() >= OFFLOAD_FROM_CORES;
    const encoder = createBatchEncoder(input, { offload });
    const loaded = await loadStage(store, tables, encoder, {
      sql: input.sql,
      warehouse: input.warehouse,
      batchSize: input.batchSize ?? DEFAULT_BATCH_SIZE,
      statementTimeoutMs: input.statementTimeoutMs,
      signal: input.signal,
      onProgress: input.onProgress,
    }).finally(() => encoder.close());
    const loadedAt = performance.now();
    const hasDuplicates = await findDuplicates(store, tables, loaded.candidates);
    const snapshotSize = await countSnapshot(store, input.syncId);
    const indexedAt = performance.now();
    // A run cancelled while loading writes no outbox.
    input.signal.throwIfAborted();
    const ctx: DiffContext = {
      runId: input.runId,
      syncId: input.syncId,
      mode: input.mode,
      fullResync: input.fullResync,
      hasDuplicates,
      snapshotSize,
    };
    const result = input.dryRun
      ? await store.transaction(async (tx) => {
          await tx.execute(`set local work_mem = '${DIFF_WORK_MEM}'`);
          return dryPlan(tx, tables, ctx, loaded.rows, snapshotSize);
        })
      : await store.transaction(async (tx) => {
          // Again inside the transaction: a concurrent earlier attempt cannot leave rows behind.
          await tx.execute('delete from run_records where run_id = $1', [input.runId]);
          await tx.execute(`set local work_mem = '${DIFF_WORK_MEM}'`);
          // The outbox is derived data: if a crash loses this commit, the run is still 'planning' and
          // simply plans again. Not waiting for the WAL flush of a million-row outbox is safe, and any
          // later synchronous commit (the run moving on to delivery) flushes it first anyway.
          await tx.execute('set local synchronous_commit = off');
          const outbox = await writeOutbox(tx, tables, ctx, loaded.invalid);
          const valid = loaded.rows - outbox.invalid;
          const { insert, update, upsert, skipped } = outbox.planned;
          const unchanged = valid - insert - update - upsert - skipped;
          return {
            rows: loaded.rows,
            invalid: outbox.invalid,
            planned: { ...outbox.planned, unchanged },
            snapshotSize,
          } satisfies PlanResult;
        });
    input.logger.info(
      {
        runId: input.runId,
        rows: result.rows,
        invalid: result.invalid,
        planned: result.planned,
        loadMs: Math.round(loadedAt - started),
        indexMs: Math.round(indexedAt - loadedAt),
        diffMs: Math.round(performance.now() - indexedAt),
        totalMs: Math.round(performance.now() - started),
      },
      input.dryRun ? 'dry run planned' : 'run planned',
    );
    return result;
  } finally {
    await dropStage(store, tables).catch((error: unknown) => {
      input.logger.warn({ err: error, runId: input.runId }, 'could not drop a staging table');
    });
  }
}

async function dryPlan(
  store: Queryable,
  tables: ReturnType<typeof stageTables>,
  ctx: DiffContext,
  rows: number,
  snapshotSize: number,
): Promise<PlanResult> {
  const diff = await countDiff(store, tables, ctx);
  const valid = rows - diff.invalid;
  const planned: PlannedCounts = { insert: 0, update: 0, upsert: 0, delete: 0, unchanged: 0, skipped: 0 };
  const operation = operationFor(ctx.mode);
  if (ctx.fullResync) {
    planned[operation] = valid;
  } else {
    planned[operation] = ctx.mode === 'insert' ? diff.added : diff.added + diff.changed;
    planned.skipped = ctx.mode === 'insert' ? diff.changed : 0;
    planned.delete = diff.removed;
    planned.unchanged = valid - diff.added - diff.changed;
  }
  const sample = await sampleDiff(store, tables, ctx);
  return { rows, invalid: diff.invalid, planned, snapshotSize, sample };
}
