import { afterEach, describe, expect, it } from 'vitest';
import type { Schedule } from '../../src/db/schema/index.ts';
import { newId } from '../../src/lib/ids.ts';
import { silentLogger } from '../../src/logger.ts';
import { firstDueAt, followingDueAt } from '../../src/scheduler/schedule.ts';
import { type Scheduler, startScheduler } from '../../src/scheduler/scheduler.ts';
import { createTestStore, type TestStore } from '../helpers/store.ts';

let store: TestStore | undefined;
const schedulers: Scheduler[] = [];
afterEach(async () => {
  for (const s of schedulers.splice(0)) await s.stop();
  await store?.close();
  store = undefined;
});

/** A clock the test moves by hand. */
function manualClock(start: string) {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    advance(seconds: number) {
      current = new Date(current.getTime() + seconds * 1000);
    },
  };
}

async function insertSync(
  s: TestStore,
  schedule: Schedule,
  nextRunAt: Date | null,
  extra: { enabled?: boolean; pausedReason?: string } = {},
) {
  const source = newId('source');
  const model = newId('model');
  const destination = newId('destination');
  const sync = newId('sync');
  await s.execute(`insert into sources (id, name, kind, config) values ($1, $1, 'memory', '{}')`, [source]);
  await s.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, 'select 1', 'id')`,
    [model, source],
  );
  await s.execute(`insert into destinations (id, name, kind, config) values ($1, $1, 'memory', '{}')`, [
    destination,
  ]);
  await s.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, mappings, schedule, enabled, paused_reason, next_run_at)
     values ($1, $1, $2, $3, 'contacts', 'upsert', '[]', $4, $5, $6, $7)`,
    [sync, model, destination, schedule, extra.enabled ?? true, extra.pausedReason ?? null, nextRunAt],
  );
  return sync;
}

const runsOf = (s: TestStore, syncId: string) =>
  s.query<{ id: string; trigger: string; scheduledFor: Date; status: string }>(
    `select id, trigger, scheduled_for as "scheduledFor", status from sync_runs where sync_id = $1 order by scheduled_for`,
    [syncId],
  );

const finishRuns = (s: TestStore, syncId: string) =>
  s.execute(
    `update sync_runs set status = 'succeeded', finished_at = now() where sync_id = $1 and status = 'queued'`,
    [syncId],
  );

describe('schedule arithmetic', () => {
  it('moves an interval forward without catching up missed slots, and cron in its time zone', () => {
    const interval: Schedule = { type: 'interval', everySeconds: 300 };
    const due = new Date('2026-03-01T10:00:00.000Z');
    expect(followingDueAt(interval, due, new Date('2026-03-01T10:00:01Z'))).toEqual(
      new Date('2026-03-01T10:05:00Z'),
    );
    // Down for an hour: one run for the missed time, then the next slot after now.
    expect(followingDueAt(interval, due, new Date('2026-03-01T11:02:00Z'))).toEqual(
      new Date('2026-03-01T11:05:00Z'),
    );
    const cron: Schedule = { type: 'cron', expression: '0 9 * * *', timezone: 'America/New_York' };
    // 09:00 in New York is 13:00 UTC in summer time (EDT) and 14:00 in winter (EST).
    expect(firstDueAt(cron, new Date('2026-07-01T12:00:00Z'))).toEqual(new Date('2026-07-01T13:00:00Z'));
    expect(firstDueAt(cron, new Date('2026-01-05T12:00:00Z'))).toEqual(new Date('2026-01-05T14:00:00Z'));
    expect(firstDueAt({ type: 'manual' }, new Date())).toBeNull();
  });
});

describe('scheduler', () => {
  it('enqueues an interval sync once per due time as the clock moves', async () => {
    store = await createTestStore();
    const clock = manualClock('2026-03-01T10:00:00.000Z');
    const syncId = await insertSync(store, { type: 'interval', everySeconds: 60 }, clock.now());
    const scheduler = startScheduler({ store, logger: silentLogger, now: clock.now, autoStart: false });
    schedulers.push(scheduler);

    expect(await scheduler.tick()).toMatchObject([{ syncId, result: 'enqueued' }]);
    expect(await scheduler.tick()).toEqual([]);
    await finishRuns(store, syncId);
    clock.advance(59);
    expect(await scheduler.tick()).toEqual([]);
    clock.advance(1);
    expect(await scheduler.tick()).toMatchObject([{ syncId, result: 'enqueued' }]);
    const runs = await runsOf(store, syncId);
    expect(runs.map((r) => [r.trigger, r.scheduledFor.toISOString()])).toEqual([
      ['schedule', '2026-03-01T10:00:00.000Z'],
      ['schedule', '2026-03-01T10:01:00.000Z'],
    ]);
    const [sync] = await store.query<{ nextRunAt: Date }>(
      'select next_run_at as "nextRunAt" from syncs where id = $1',
      [syncId],
    );
    expect(sync?.nextRunAt.toISOString()).toBe('2026-03-01T10:02:00.000Z');
  });

  it('skips a due time while the previous run is still active, instead of doubling it', async () => {
    store = await createTestStore();
    const clock = manualClock('2026-03-01T10:00:00.000Z');
    const syncId = await insertSync(store, { type: 'interval', everySeconds: 60 }, clock.now());
    const scheduler = startScheduler({ store, logger: silentLogger, now: clock.now, autoStart: false });
    schedulers.push(scheduler);
    const [first] = await scheduler.tick();
    clock.advance(60);
    expect(await scheduler.tick()).toEqual([
      {
        syncId,
        dueAt: new Date('2026-03-01T10:01:00.000Z'),
        result: 'skipped_active_run',
        activeRunId: first?.result === 'enqueued' ? first.runId : '',
      },
    ]);
    expect(await runsOf(store, syncId)).toHaveLength(1);
    await finishRuns(store, syncId);
    clock.advance(60);
    expect(await scheduler.tick()).toMatchObject([
      { result: 'enqueued', dueAt: new Date('2026-03-01T10:02:00.000Z') },
    ]);
  });

  it('enqueues each due time exactly once across several schedulers ticking together', async () => {
    store = await createTestStore();
    const clock = manualClock('2026-03-01T10:00:00.000Z');
    const syncIds = await Promise.all(
      Array.from({ length: 5 }, () =>
        insertSync(store as TestStore, { type: 'interval', everySeconds: 60 }, clock.now()),
      ),
    );
    const fleet = Array.from({ length: 4 }, () =>
      startScheduler({ store: store as TestStore, logger: silentLogger, now: clock.now, autoStart: false }),
    );
    schedulers.push(...fleet);
    for (let minute = 0; minute < 3; minute++) {
      await Promise.all(fleet.map((s) => s.tick()));
      for (const id of syncIds) await finishRuns(store, id);
      clock.advance(60);
    }
    for (const id of syncIds) {
      const runs = await runsOf(store, id);
      expect(runs.map((r) => r.scheduledFor.toISOString())).toEqual([
        '2026-03-01T10:00:00.000Z',
        '2026-03-01T10:01:00.000Z',
        '2026-03-01T10:02:00.000Z',
      ]);
    }
  });

  it('does not schedule disabled, paused or manual syncs, and starts a schedule with no due time', async () => {
    store = await createTestStore();
    const clock = manualClock('2026-03-01T10:00:00.000Z');
    const every: Schedule = { type: 'interval', everySeconds: 60 };
    const disabled = await insertSync(store, every, clock.now(), { enabled: false });
    const paused = await insertSync(store, every, clock.now(), { pausedReason: '410 Gone' });
    const manual = await insertSync(store, { type: 'manual' }, null);
    const unset = await insertSync(store, { type: 'cron', expression: '30 10 * * *', timezone: 'UTC' }, null);
    const scheduler = startScheduler({ store, logger: silentLogger, now: clock.now, autoStart: false });
    schedulers.push(scheduler);
    expect(await scheduler.tick()).toEqual([]);
    clock.advance(30 * 60);
    expect(await scheduler.tick()).toMatchObject([
      { syncId: unset, result: 'enqueued', dueAt: new Date('2026-03-01T10:30:00Z') },
    ]);
    for (const id of [disabled, paused, manual]) expect(await runsOf(store, id)).toEqual([]);
  });

  it('ticks on its own timer until stopped', async () => {
    store = await createTestStore();
    const clock = manualClock('2026-03-01T10:00:00.000Z');
    const syncId = await insertSync(store, { type: 'interval', everySeconds: 60 }, clock.now());
    const scheduler = startScheduler({ store, logger: silentLogger, now: clock.now, pollIntervalMs: 10 });
    schedulers.push(scheduler);
    const deadline = Date.now() + 10_000;
    while ((await runsOf(store, syncId)).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    await scheduler.stop();
    expect(await runsOf(store, syncId)).toHaveLength(1);
  });
});
