import type { Queryable, Store } from '../db/client.ts';
import type { RunStatus, RunTrigger } from '../db/schema/index.ts';
import { newId } from '../lib/ids.ts';

/**
 * Queueing, cancelling and resetting runs. These touch only the database, so the API, the CLI and the
 * scheduler in any process share one queue. The partial unique index `sync_runs_one_active_per_sync`
 * keeps invariant 5 (one active run per sync) even when two processes enqueue at the same instant.
 */

export interface QueuedRun {
  id: string;
  syncId: string;
  status: RunStatus;
  trigger: RunTrigger;
  fullResync: boolean;
  dryRun: boolean;
  allowMassDelete: boolean;
  scheduledFor: Date | null;
  createdAt: Date;
}

export interface EnqueueInput {
  syncId: string;
  trigger: RunTrigger;
  fullResync?: boolean;
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /** The due time, for scheduled runs: a second enqueue for the same due time does nothing. */
  scheduledFor?: Date;
}

export type EnqueueResult =
  | { ok: true; run: QueuedRun }
  | { ok: false; reason: 'sync_not_found' }
  | { ok: false; reason: 'active_run'; activeRunId: string }
  | { ok: false; reason: 'already_scheduled' };

const runColumns = `id, sync_id as "syncId", status, trigger, full_resync as "fullResync", dry_run as "dryRun",
  allow_mass_delete as "allowMassDelete", scheduled_for as "scheduledFor", created_at as "createdAt"`;

export async function enqueueRun(store: Store, input: EnqueueInput): Promise<EnqueueResult> {
  const [sync] = await store.query<{ id: string }>('select id from syncs where id = $1', [input.syncId]);
  if (!sync) return { ok: false, reason: 'sync_not_found' };
  const [run] = await store.query<QueuedRun>(
    `insert into sync_runs (id, sync_id, trigger, full_resync, dry_run, allow_mass_delete, scheduled_for)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict do nothing
     returning ${runColumns}`,
    [
      newId('run'),
      input.syncId,
      input.trigger,
      input.fullResync ?? false,
      input.dryRun ?? false,
      input.allowMassDelete ?? false,
      input.scheduledFor ?? null,
    ],
  );
  if (run) return { ok: true, run };
  if (input.scheduledFor) {
    const [same] = await store.query<{ id: string }>(
      'select id from sync_runs where sync_id = $1 and scheduled_for = $2',
      [input.syncId, input.scheduledFor],
    );
    if (same) return { ok: false, reason: 'already_scheduled' };
  }
  const [active] = await store.query<{ id: string }>(
    `select id from sync_runs where sync_id = $1 and status in ('queued', 'running')`,
    [input.syncId],
  );
  // The active run may have finished between the insert and this read; asking again is then correct.
  if (!active) return enqueueRun(store, input);
  return { ok: false, reason: 'active_run', activeRunId: active.id };
}

export type CancelResult =
  | { ok: true; status: 'cancelled' | 'cancelling' }
  | { ok: false; reason: 'run_not_found' | 'already_finished' };

/**
 * A run that never started is cancelled at once. A running one is flagged; its worker stops between
 * batches, records what was delivered, and leaves the rest pending for the next run (nothing is lost).
 * So is a queued run that already planned (handed back by a stopping worker, or waiting out a dead
 * one's lease): an earlier attempt may have sent part of its outbox, and only a worker finishing it
 * marks its records cancelled, remembers what may have been created, and counts its outcomes.
 */
export async function cancelRun(store: Store, runId: string): Promise<CancelResult> {
  const queued = await store.execute(
    `update sync_runs set status = 'cancelled', finished_at = now(), updated_at = now(),
       error_code = 'cancelled', error_message = 'Cancelled before it started.'
     where id = $1 and status = 'queued' and phase = 'pending'`,
    [runId],
  );
  if (queued > 0) return { ok: true, status: 'cancelled' };
  const running = await store.execute(
    `update sync_runs set cancel_requested = true, updated_at = now()
     where id = $1 and status in ('queued', 'running')`,
    [runId],
  );
  if (running > 0) return { ok: true, status: 'cancelling' };
  const [exists] = await store.query('select 1 from sync_runs where id = $1', [runId]);
  return { ok: false, reason: exists ? 'already_finished' : 'run_not_found' };
}

export type ResetResult =
  | { ok: true; forgotten: number }
  | { ok: false; reason: 'sync_not_found' }
  | { ok: false; reason: 'active_run'; activeRunId: string };

/**
 * Forgets what the destination holds, sending nothing: the next run treats every row as new. Refused
 * while a run is active, since that run is advancing the snapshot.
 */
export async function resetSync(store: Store, syncId: string): Promise<ResetResult> {
  return store.transaction(async (tx) => {
    const [sync] = await tx.query<{ id: string }>('select id from syncs where id = $1 for update', [syncId]);
    if (!sync) return { ok: false, reason: 'sync_not_found' } as const;
    const [active] = await tx.query<{ id: string }>(
      `select id from sync_runs where sync_id = $1 and status in ('queued', 'running')`,
      [syncId],
    );
    if (active) return { ok: false, reason: 'active_run', activeRunId: active.id } as const;
    const forgotten = await tx.execute('delete from sync_snapshots where sync_id = $1', [syncId]);
    return { ok: true, forgotten } as const;
  });
}

/** Whether someone asked to cancel the run (the worker checks between batches and phases). */
export async function isCancelRequested(store: Queryable, runId: string): Promise<boolean> {
  const [row] = await store.query<{ c: boolean }>(
    'select cancel_requested as c from sync_runs where id = $1',
    [runId],
  );
  return row?.c ?? false;
}

/**
 * A stopping worker's run goes back to the queue with its outbox and phase, so any worker resumes it at
 * once instead of waiting for the lease to expire. Only the holder can hand it back.
 */
export async function handBackRun(store: Queryable, run: { id: string; workerId: string }): Promise<void> {
  await store.execute(
    `update sync_runs set status = 'queued', worker_id = null, lease_expires_at = null, updated_at = now()
     where id = $1 and worker_id = $2 and status = 'running'`,
    [run.id, run.workerId],
  );
}
