import type { DestinationClient } from '../../connectors/types.ts';
import type { Queryable } from '../db/client.ts';
import type { RunCounts, RunPhase, RunStatus } from '../db/schema/index.ts';
import {
  type ClaimedRun,
  type EngineDeps,
  loadRunContext,
  type PlanResult,
  type RunContext,
  RunSetupError,
} from './context.ts';
import { checkMassDelete } from './deliver/guard.ts';
import { type DeliveryEnd, deliverRun } from './deliver/index.ts';
import { countOutcomes, LeaseLostError } from './deliver/outbox.ts';
import { defaultRetryPolicy, systemClock } from './deliver/retry.ts';
import { handBackRun, isCancelRequested } from './queue.ts';

/** Why a run did not succeed, as a closed set (shown by the API and the CLI with the message). */
export type RunErrorCode =
  | 'sync_paused'
  | 'setup_failed'
  | 'plan_failed'
  | 'mass_delete_guard'
  | 'quota_exhausted'
  | 'destination_fatal'
  | 'cancelled'
  | 'too_many_attempts'
  | 'internal_error';

/**
 * Claims of one run before Ebb gives up on it. A run that kills its worker (out of memory, say) would
 * otherwise be resumed, and kill the next worker, forever. Graceful hand-backs count too, so the cap is
 * far above what rolling restarts during one run produce.
 */
export const MAX_RUN_ATTEMPTS = 20;

export type RunEnd =
  | { status: Exclude<RunStatus, 'queued' | 'running'>; errorCode?: RunErrorCode; message?: string }
  /** The worker is stopping: the run went back to the queue for another worker to resume. */
  | { status: 'handed_back' }
  /** Another worker holds the run now; this one recorded nothing more. */
  | { status: 'lease_lost' };

export interface ExecuteOptions {
  /** Graceful stop: finish in-flight batches, then hand the run back to the queue. */
  drain?: AbortSignal;
  /** Called with the run's counts as planning finishes and as each batch lands. */
  onProgress?: (counts: RunCounts) => void;
  /** Called as planning reads the model, with the rows read so far (before any count exists). */
  onPlanProgress?: (progress: { rowsRead: number }) => void;
}

type Fence = Pick<ClaimedRun, 'id' | 'syncId' | 'workerId'>;
type FinalEnd = Extract<RunEnd, { status: RunStatus }>;

/**
 * Executes a claimed run from its persisted phase: planning (the outbox), the mass-delete guard,
 * delivery, finish. `signal` aborts hard (lease lost, process dying): nothing more is recorded and the
 * next owner resumes from the outbox.
 */
export async function executeRun(
  deps: EngineDeps,
  claimed: ClaimedRun,
  signal: AbortSignal,
  options: ExecuteOptions = {},
): Promise<RunEnd> {
  const fence: Fence = claimed;
  const startedAt = Date.now();
  try {
    if (claimed.attempt > MAX_RUN_ATTEMPTS) {
      return await finish(deps, fence, {
        status: 'failed',
        errorCode: 'too_many_attempts',
        message: `The run was started ${claimed.attempt - 1} times without finishing (its workers stopped or crashed); it is abandoned so it cannot crash workers forever. Start a new run; see the worker logs for why it stopped.`,
      });
    }
    let ctx: RunContext;
    try {
      ctx = await loadRunContext(deps, claimed.syncId);
    } catch (error) {
      if (!(error instanceof RunSetupError)) throw error;
      return await finish(deps, fence, {
        status: 'failed',
        errorCode: 'setup_failed',
        message: error.message,
      });
    }
    if (ctx.sync.pausedReason) {
      return await finish(deps, fence, {
        status: 'failed',
        errorCode: 'sync_paused',
        message: `The sync is paused: ${ctx.sync.pausedReason}. Fix the cause, then resume the sync.`,
      });
    }
    let phase: RunPhase = claimed.phase;
    if (phase === 'pending' || phase === 'planning') {
      if (await isCancelRequested(deps.store, fence.id)) return await finishCancelled(deps, fence);
      await setPhase(deps.store, fence, 'planning');
      const planStarted = Date.now();
      let plan: PlanResult;
      try {
        // A graceful stop also interrupts planning: planRun is idempotent, so the next owner replans.
        const planSignal = options.drain ? AbortSignal.any([signal, options.drain]) : signal;
        plan = await runPlanner(deps, claimed, ctx, planSignal, options.onPlanProgress);
      } catch (error) {
        if (signal.aborted) return { status: 'lease_lost' };
        if (options.drain?.aborted) {
          await handBackRun(deps.store, fence);
          return { status: 'handed_back' };
        }
        const message = error instanceof Error ? error.message : String(error);
        deps.logger.warn({ err: error, runId: fence.id }, 'planning failed');
        return await finish(deps, fence, { status: 'failed', errorCode: 'plan_failed', message });
      }
      const planningMs = Date.now() - planStarted;
      if (claimed.dryRun) {
        return await finish(deps, fence, { status: 'succeeded' }, { plan, timings: { planningMs } });
      }
      const counts = plannedCounts(plan);
      await setPhase(deps.store, fence, 'planned', { counts, timings: { planningMs } });
      options.onProgress?.(counts);
      phase = 'planned';
    }
    if (phase === 'planned') {
      // Before delivery starts, a cancel ends the run with nothing sent (and nothing to remember).
      if (await isCancelRequested(deps.store, fence.id)) return await finishCancelled(deps, fence);
      if (ctx.sync.mode === 'mirror' && !claimed.allowMassDelete) {
        const verdict = await checkMassDelete(deps.store, fence, {
          maxShare: ctx.sync.massDeleteMaxShare,
          minCount: ctx.sync.massDeleteMinCount,
        });
        if (verdict.blocked) {
          return await finish(deps, fence, {
            status: 'failed',
            errorCode: 'mass_delete_guard',
            message: verdict.blocked,
          });
        }
      }
      await setPhase(deps.store, fence, 'delivering');
      phase = 'delivering';
    }
    const deliverStarted = Date.now();
    const end = await deliver(deps, fence, ctx, signal, options);
    if (signal.aborted) return { status: 'lease_lost' };
    if (end.kind === 'drain') {
      await handBackRun(deps.store, fence);
      return { status: 'handed_back' };
    }
    return await finishDelivery(deps, fence, ctx, end, Date.now() - deliverStarted);
  } catch (error) {
    if (error instanceof LeaseLostError || signal.aborted) return { status: 'lease_lost' };
    if (error instanceof RunSetupError) {
      return finish(deps, fence, { status: 'failed', errorCode: 'setup_failed', message: error.message });
    }
    deps.logger.error({ err: error, runId: fence.id }, 'run failed unexpectedly');
    const message = error instanceof Error ? error.message : String(error);
    return finish(deps, fence, { status: 'failed', errorCode: 'internal_error', message }).catch(
      (recordError: unknown) => {
        // The store itself is failing; the lease will expire and another worker resumes the run.
        deps.logger.error({ err: recordError, runId: fence.id }, 'could not record the run failure');
        return { status: 'lease_lost' } as const;
      },
    );
  } finally {
    deps.logger.debug({ runId: fence.id, ms: Date.now() - startedAt }, 'run execution ended');
  }
}

async function runPlanner(
  deps: EngineDeps,
  claimed: ClaimedRun,
  ctx: RunContext,
  signal: AbortSignal,
  onProgress: ((progress: { rowsRead: number }) => void) | undefined,
): Promise<PlanResult> {
  const warehouse = await ctx.source.driver.open(ctx.source.config);
  try {
    return await deps.planRun(deps.store, {
      runId: claimed.id,
      syncId: claimed.syncId,
      mode: ctx.sync.mode,
      fullResync: claimed.fullResync,
      dryRun: claimed.dryRun,
      primaryKey: ctx.model.primaryKey,
      mappings: ctx.sync.mappings,
      identifier: ctx.sync.identifier,
      sql: ctx.model.sql,
      warehouse,
      statementTimeoutMs: deps.config.warehouseStatementTimeoutMs,
      signal,
      logger: deps.logger.child({ runId: claimed.id }),
      onProgress,
    });
  } finally {
    await warehouse.close();
  }
}

/**
 * The counts of a freshly written outbox, from the plan itself: every sendable record is pending and
 * nothing has an outcome yet. Counting the outbox instead took half a second at a million records.
 */
function plannedCounts(plan: PlanResult): RunCounts {
  const { insert, update, upsert, delete: deletes } = plan.planned;
  return {
    rows: plan.rows,
    planned: plan.planned,
    accepted: 0,
    rejected: 0,
    invalid: plan.invalid,
    pending: insert + update + upsert + deletes,
    cancelled: 0,
  };
}

function deliver(
  deps: EngineDeps,
  fence: Fence,
  ctx: RunContext,
  signal: AbortSignal,
  options: ExecuteOptions,
): Promise<DeliveryEnd> {
  const { connector, config } = ctx.destination;
  const logger = deps.logger.child({ runId: fence.id, syncId: fence.syncId });
  let client: DestinationClient;
  try {
    client = connector.create(config, { logger, allowPrivateNetwork: deps.config.allowPrivateNetwork });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return Promise.reject(
      new RunSetupError(`the ${ctx.destination.kind} destination cannot be used: ${message}`),
    );
  }
  const reportProgress = async () => {
    if (!options.onProgress) return;
    const [row] = await deps.store.query<{ counts: RunCounts | null }>(
      'select counts from sync_runs where id = $1',
      [fence.id],
    );
    if (row?.counts) options.onProgress(row.counts);
  };
  return deliverRun({
    store: deps.store,
    run: fence,
    connector,
    config,
    client,
    context: {
      syncId: fence.syncId,
      runId: fence.id,
      object: ctx.sync.object,
      mode: ctx.sync.mode,
      identifierField: ctx.sync.identifier?.to ?? null,
      signal,
      logger,
    },
    limiters: deps.limiters,
    policy: { ...defaultRetryPolicy, ...deps.retry },
    clock: deps.clock ?? systemClock,
    logger,
    drain: options.drain ?? new AbortController().signal,
    onBatch: () => {
      reportProgress().catch((error: unknown) => logger.warn({ err: error }, 'progress report failed'));
    },
  }).finally(() => client.close?.());
}

async function finishDelivery(
  deps: EngineDeps,
  fence: Fence,
  ctx: RunContext,
  end: Exclude<DeliveryEnd, { kind: 'drain' }>,
  deliveringMs: number,
): Promise<RunEnd> {
  const extra = { deliveringMs };
  if (end.kind === 'cancelled') return finishCancelled(deps, fence, extra);
  if (end.kind === 'fatal') {
    if (end.pauseSync) {
      await deps.store.execute(
        'update syncs set paused_reason = $2, updated_at = now() where id = $1 and paused_reason is null',
        [ctx.sync.id, end.reason],
      );
    }
    const paused = end.pauseSync ? ' The sync is paused until it is resumed.' : '';
    return finish(
      deps,
      fence,
      { status: 'failed', errorCode: 'destination_fatal', message: `${end.reason}${paused}` },
      { timings: extra },
    );
  }
  if (end.kind === 'quota') {
    const reset = end.resetAt ? ` It resets at ${end.resetAt.toISOString()}.` : '';
    return finish(
      deps,
      fence,
      {
        status: 'partial',
        errorCode: 'quota_exhausted',
        message: `The destination's quota is spent: ${end.reason}.${reset} Unsent records stay pending for the next run.`,
      },
      { timings: extra },
    );
  }
  const outcomes = await countOutcomes(deps.store, fence.id);
  const clean = outcomes.rejected + outcomes.invalid + outcomes.pending === 0;
  return finish(deps, fence, { status: clean ? 'succeeded' : 'partial' }, { timings: extra, outcomes });
}

async function finishCancelled(deps: EngineDeps, fence: Fence, timings?: Record<string, number>) {
  await deps.store.execute(
    `update run_records set status = 'cancelled', reason = 'the run was cancelled before this record was sent',
       updated_at = now()
     where run_id = $1 and status = 'pending'
       and exists (select 1 from sync_runs where id = $1 and worker_id = $2 and status = 'running')`,
    [fence.id, fence.workerId],
  );
  return finish(
    deps,
    fence,
    { status: 'cancelled', errorCode: 'cancelled', message: 'Cancelled; unsent records come back next run.' },
    { timings },
  );
}

/** Writes the run's final status, exact counts and timings; fenced on the lease like every write. */
async function finish(
  deps: EngineDeps,
  fence: Fence,
  end: FinalEnd,
  extra: {
    plan?: PlanResult;
    timings?: Record<string, number>;
    /** Counted after delivery ended; nothing records outcomes after that, so they are not counted again. */
    outcomes?: Awaited<ReturnType<typeof countOutcomes>>;
  } = {},
): Promise<RunEnd> {
  await rememberUnconfirmed(deps.store, fence);
  const outcomes = extra.outcomes ?? (await countOutcomes(deps.store, fence.id));
  const updated = await deps.store.execute(
    `update sync_runs set status = $3, error_code = $4, error_message = $5, phase = 'done',
       counts = coalesce(counts, '{}'::jsonb) || $6::jsonb,
       plan = coalesce($7::jsonb, plan),
       timings = coalesce(timings, '{}'::jsonb) || $8::jsonb,
       finished_at = now(), updated_at = now(), lease_expires_at = null
     where id = $1 and worker_id = $2 and status = 'running'`,
    [
      fence.id,
      fence.workerId,
      end.status,
      end.errorCode ?? null,
      end.message ?? null,
      JSON.stringify(
        extra.plan
          ? { rows: extra.plan.rows, planned: extra.plan.planned, ...outcomes, invalid: extra.plan.invalid }
          : outcomes,
      ),
      extra.plan ? JSON.stringify(extra.plan) : null,
      JSON.stringify(extra.timings ?? {}),
    ],
  );
  if (updated === 0) return { status: 'lease_lost' };
  deps.logger.info({ runId: fence.id, status: end.status, errorCode: end.errorCode }, 'run finished');
  return end;
}

/**
 * A run that ends with upserts it never confirmed (pending after a quota stop, cancelled, or abandoned)
 * may still have created them: an earlier attempt can have sent them and crashed before recording. In a
 * resumed run that holds for rejected upserts too (the destination may refuse the re-send of a record
 * the crashed attempt created; a rejection seen by this attempt alone is handled in batch.ts). Their
 * keys enter the snapshot with an empty fingerprint, which matches no payload: the next run sends the
 * row again if it is still in the model, and deletes the record (mirror) if it is gone, instead of
 * leaving a record nobody removes. Done as the run finishes rather than as it plans: a run that
 * succeeds has nothing to enter, where entering every new key before sending doubled the snapshot
 * writes of a first run (1M rows: +11 s). Only runs that reached delivery can have sent anything (a run
 * stopped by the mass-delete guard has not). Runs finish before the sync's next run can plan (one active
 * run per sync), and this is repeated if the worker dies before the status is written.
 */
async function rememberUnconfirmed(store: Queryable, fence: Fence): Promise<void> {
  // A key already in the snapshot loses its fingerprint too: the destination may now hold the unsent
  // change, so even a row that changes back to what the snapshot says must be sent again.
  await store.execute(
    `with owned as (
       select attempt from sync_runs
       where id = $1 and worker_id = $2 and status = 'running' and phase = 'delivering' for share
     )
     insert into sync_snapshots (sync_id, pk, fingerprint, identifier, destination_record_id, run_id, updated_at)
       select $3, r.pk, '', r.identifier, r.destination_record_id, $1, now() from run_records r, owned o
       where r.run_id = $1 and r.operation = 'upsert'
         and (r.status in ('pending', 'cancelled') or (r.status = 'rejected' and o.attempt > 1))
     on conflict (sync_id, pk) do update set fingerprint = '', run_id = excluded.run_id, updated_at = now()`,
    [fence.id, fence.workerId, fence.syncId],
  );
}

async function setPhase(
  store: Queryable,
  fence: Fence,
  phase: RunPhase,
  extra: { counts?: RunCounts; timings?: Record<string, number> } = {},
) {
  const updated = await store.execute(
    `update sync_runs set phase = $3, counts = coalesce($4::jsonb, counts),
       timings = coalesce(timings, '{}'::jsonb) || $5::jsonb, updated_at = now()
     where id = $1 and worker_id = $2 and status = 'running'`,
    [
      fence.id,
      fence.workerId,
      phase,
      extra.counts ? JSON.stringify(extra.counts) : null,
      JSON.stringify(extra.timings ?? {}),
    ],
  );
  if (updated === 0) throw new LeaseLostError(`run ${fence.id} is no longer held by ${fence.workerId}`);
}
