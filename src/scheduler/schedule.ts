import { Cron } from 'croner';
import type { Schedule } from '../db/schema/index.ts';

/** The shortest interval a schedule may have: a run per minute is already more than most models change. */
export const MIN_INTERVAL_SECONDS = 60;
/** A year; longer is a manual schedule in disguise, and keeps dates far from overflow. */
export const MAX_INTERVAL_SECONDS = 366 * 24 * 3600;

export function timezoneProblem(timezone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return null;
  } catch {
    return `"${timezone}" is not a time zone name such as "UTC" or "Europe/Paris"`;
  }
}

function cronFor(expression: string, timezone: string): Cron {
  return new Cron(expression, { timezone, paused: true });
}

export function cronProblem(expression: string, timezone: string): string | null {
  const zone = timezoneProblem(timezone);
  if (zone) return zone;
  try {
    const cron = cronFor(expression, timezone);
    if (!cron.nextRun(new Date())) return `"${expression}" never fires again`;
    return null;
  } catch (error) {
    return `"${expression}" is not a valid cron expression: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * The first due time strictly after `after`, or null for manual schedules. Milliseconds only: the CAS
 * in the scheduler compares what it read with what it wrote, and JavaScript dates have no microseconds.
 */
export function nextDueAfter(schedule: Schedule, after: Date): Date | null {
  switch (schedule.type) {
    case 'manual':
      return null;
    case 'interval':
      return new Date(Math.floor(after.getTime()) + schedule.everySeconds * 1000);
    case 'cron':
      return cronFor(schedule.expression, schedule.timezone).nextRun(after);
  }
}

/**
 * Where a new or re-enabled schedule starts: an interval sync runs at once and then every interval;
 * a cron sync at its next time. Nothing is caught up for the time a sync was off.
 */
export function firstDueAt(schedule: Schedule, now: Date): Date | null {
  if (schedule.type === 'interval') return new Date(now.getTime());
  return nextDueAfter(schedule, now);
}

/**
 * The due time after a due time that has just been enqueued. A scheduler that was down (or a sync
 * that was skipped) does not catch up one run per missed slot: it moves to the first slot after now.
 */
export function followingDueAt(schedule: Schedule, due: Date, now: Date): Date | null {
  let next = nextDueAfter(schedule, due);
  if (!next || next > now) return next;
  if (schedule.type === 'interval') {
    const every = schedule.everySeconds * 1000;
    const missed = Math.floor((now.getTime() - next.getTime()) / every) + 1;
    return new Date(next.getTime() + missed * every);
  }
  next = nextDueAfter(schedule, now);
  return next;
}
