import type { Queryable } from '../db/client.ts';
import type { RunPhase } from '../db/schema/index.ts';
import type { Logger } from '../logger.ts';
import type { ClaimedRun } from '../sync/context.ts';

const claimedColumns = `id, sync_id as "syncId", worker_id as "workerId", attempt, phase,
  full_resync as "fullResync", dry_run as "dryRun", allow_mass_delete as "allowMassDelete"`;

interface ClaimedRow extends Omit<ClaimedRun, 'phase'> {
  phase: string;
}

function toClaimed(row: ClaimedRow | undefined): ClaimedRun | undefined {
  if (!row) return undefined;
  return { ...row, attempt: Number(row.attempt), phase: row.phase as RunPhase };
}

/** A run a worker may claim: queued, or running under a lease that expired (its worker died). */
const claimable = `(status = 'queued' or (status = 'running' and lease_expires_at < now()))`;

/** What a claim writes, given the SQL parameters holding the worker id and the lease length. */
const claimAssignments = (workerId: string, leaseMs: string) =>
  `status = 'running', worker_id = ${workerId}, lease_expires_at = now() + ${leaseMs} * interval '1 millisecond',
   attempt = attempt + 1, started_at = coalesce(started_at, now()), updated_at = now()`;

/**
 * Claims the oldest claimable run: queued, or running under a lease that expired (its worker died; the
 * run resumes from its outbox). SKIP LOCKED lets many workers claim at once without waiting on or
 * double-claiming a row; the outer condition re-checks the row once it is locked.
 */
export async function claimNextRun(
  store: Queryable,
  workerId: string,
  leaseMs: number,
): Promise<ClaimedRun | undefined> {
  const [row] = await store.query<ClaimedRow>(
    `update sync_runs set ${claimAssignments('$1', '$2')}
     where id = (select id from sync_runs where ${claimable} order by created_at limit 1 for update skip locked)
       and ${claimable}
     returning ${claimedColumns}`,
    [workerId, leaseMs],
  );
  return toClaimed(row);
}

/** Claims one given run, for running it in-process (the CLI); undefined when it is not claimable. */
export async function claimRun(
  store: Queryable,
  runId: string,
  workerId: string,
  leaseMs: number,
): Promise<ClaimedRun | undefined> {
  const [row] = await store.query<ClaimedRow>(
    `update sync_runs set ${claimAssignments('$2', '$3')}
     where id = $1 and ${claimable}
     returning ${claimedColumns}`,
    [runId, workerId, leaseMs],
  );
  return toClaimed(row);
}

/** Extends the lease; false when another worker holds the run now (or it was finished or handed back). */
export async function renewLease(
  store: Queryable,
  run: Pick<ClaimedRun, 'id' | 'workerId'>,
  leaseMs: number,
): Promise<boolean> {
  const updated = await store.execute(
    `update sync_runs set lease_expires_at = now() + $3 * interval '1 millisecond'
     where id = $1 and worker_id = $2 and status = 'running'`,
    [run.id, run.workerId, leaseMs],
  );
  return updated > 0;
}

/**
 * Renews the lease every third of its length. When the lease turns out to be taken, it aborts the run
 * locally: the new owner resumes from the outbox, and every later write of this one is fenced off.
 */
export function startHeartbeat(
  store: Queryable,
  run: Pick<ClaimedRun, 'id' | 'workerId'>,
  leaseMs: number,
  lost: AbortController,
  logger: Logger,
): () => void {
  const beat = async () => {
    if (lost.signal.aborted || (await renewLease(store, run, leaseMs))) return;
    // Not renewed: either the run just finished (the beat raced its end) or another worker holds it.
    const [row] = await store.query<{ workerId: string | null; status: string }>(
      'select worker_id as "workerId", status from sync_runs where id = $1',
      [run.id],
    );
    if (row?.status === 'running' && row.workerId !== run.workerId) {
      logger.warn(
        { runId: run.id, holder: row.workerId },
        'lease taken by another worker; stopping this run here',
      );
    }
    lost.abort();
  };
  const timer = setInterval(
    () => {
      // A failed beat (the store is briefly unreachable) is retried at the next tick; if it never
      // recovers, the lease expires and another worker resumes the run.
      beat().catch((error: unknown) => logger.warn({ err: error, runId: run.id }, 'lease renewal failed'));
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  );
  return () => clearInterval(timer);
}
