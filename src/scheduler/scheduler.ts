import { z } from 'zod';
import type { Store } from '../db/client.ts';
import type { Schedule } from '../db/schema/index.ts';
import type { Logger } from '../logger.ts';
import { enqueueRun } from '../sync/queue.ts';
import { firstDueAt, followingDueAt } from './schedule.ts';

/**
 * Enqueues due runs of interval and cron syncs. Safe to run in every process: each due time is enqueued
 * once however many schedulers see it, because
 * 1. `enqueueRun({ scheduledFor })` is unique per (sync, due time) in the database, and
 * 2. the move to the next due time is a compare-and-set on `syncs.next_run_at`.
 * Enqueue comes before the move, so a scheduler that dies between the two leaves the due time in place
 * and the next tick (in any process) finds the run already there and only moves on.
 *
 * A sync whose previous run is still active when the next is due skips that due time (no second run is
 * queued behind it); the next due time is computed from now, so a slow run never builds a backlog.
 */

const scheduleSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('manual') }),
  z.object({ type: z.literal('interval'), everySeconds: z.number().int().positive() }),
  z.object({ type: z.literal('cron'), expression: z.string(), timezone: z.string() }),
]);

export interface SchedulerDeps {
  store: Store;
  logger: Logger;
  /** The clock; tests move it by hand. */
  now?: () => Date;
  /** How often to look for due syncs. */
  pollIntervalMs?: number;
  /** Due syncs handled per tick; the rest wait for the next tick. */
  batchSize?: number;
  /** false: no timer, only explicit `tick()` calls (tests). */
  autoStart?: boolean;
}

export type TickOutcome =
  | { syncId: string; dueAt: Date; result: 'enqueued'; runId: string }
  | { syncId: string; dueAt: Date; result: 'skipped_active_run'; activeRunId: string }
  | { syncId: string; dueAt: Date; result: 'already_enqueued' | 'moved_by_another' };

export interface Scheduler {
  /** Enqueues whatever is due now; the loop calls it, and so can tests. */
  tick(): Promise<TickOutcome[]>;
  stop(): Promise<void>;
}

interface DueSync {
  id: string;
  schedule: unknown;
  nextRunAt: Date | null;
}

export function startScheduler(deps: SchedulerDeps): Scheduler {
  const now = deps.now ?? (() => new Date());
  const pollIntervalMs = deps.pollIntervalMs ?? 5000;
  const logger = deps.logger.child({ role: 'scheduler' });

  const parseSchedule = (sync: DueSync): Schedule | null => {
    const parsed = scheduleSchema.safeParse(sync.schedule);
    if (parsed.success) return parsed.data;
    logger.error(
      { syncId: sync.id, issues: parsed.error.issues },
      'sync has an unreadable schedule; not scheduling it',
    );
    return null;
  };

  /** Moves next_run_at from what was read to `next`, only if no other scheduler moved it first. */
  const move = async (syncId: string, from: Date | null, next: Date | null) => {
    const moved = await deps.store.execute(
      from
        ? `update syncs set next_run_at = $2 where id = $1 and date_trunc('milliseconds', next_run_at) = $3`
        : 'update syncs set next_run_at = $2 where id = $1 and next_run_at is null',
      from ? [syncId, next, from] : [syncId, next],
    );
    return moved > 0;
  };

  const handle = async (sync: DueSync, at: Date): Promise<TickOutcome | null> => {
    const schedule = parseSchedule(sync);
    if (!schedule) return null;
    const dueAt = sync.nextRunAt;
    if (!dueAt) {
      // Written by something other than the API (e.g. SQL by hand): start the schedule from now.
      await move(sync.id, null, firstDueAt(schedule, at));
      return null;
    }
    const enqueued = await enqueueRun(deps.store, {
      syncId: sync.id,
      trigger: 'schedule',
      scheduledFor: dueAt,
    });
    const moved = await move(sync.id, dueAt, followingDueAt(schedule, dueAt, at));
    if (enqueued.ok) {
      logger.info({ syncId: sync.id, runId: enqueued.run.id, dueAt }, 'scheduled run enqueued');
      return { syncId: sync.id, dueAt, result: 'enqueued', runId: enqueued.run.id };
    }
    if (enqueued.reason === 'active_run') {
      logger.info(
        { syncId: sync.id, dueAt, activeRunId: enqueued.activeRunId },
        'previous run still active at the due time; skipping this one',
      );
      return { syncId: sync.id, dueAt, result: 'skipped_active_run', activeRunId: enqueued.activeRunId };
    }
    if (enqueued.reason === 'sync_not_found') return null;
    return { syncId: sync.id, dueAt, result: moved ? 'already_enqueued' : 'moved_by_another' };
  };

  const tick = async (): Promise<TickOutcome[]> => {
    const at = now();
    const due = await deps.store.query<DueSync>(
      `select id, schedule, date_trunc('milliseconds', next_run_at) as "nextRunAt" from syncs
       where enabled and paused_reason is null and schedule->>'type' <> 'manual'
         and (next_run_at is null or next_run_at <= $1)
       order by next_run_at nulls first limit $2`,
      [at, deps.batchSize ?? 100],
    );
    const outcomes: TickOutcome[] = [];
    for (const sync of due) {
      const outcome = await handle(sync, at);
      if (outcome) outcomes.push(outcome);
    }
    return outcomes;
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const loop = () => {
    if (stopped) return;
    running = tick()
      .catch((error: unknown) =>
        logger.error({ err: error }, 'scheduler tick failed; trying again next interval'),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, pollIntervalMs);
      });
  };
  if (deps.autoStart !== false) timer = setTimeout(loop, 0);

  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
