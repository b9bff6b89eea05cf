import { orm, pgCore } from '../drizzle.ts';
import { createdAt, ts, updatedAt } from './common.ts';
import { syncs } from './config.ts';

const { sql } = orm;
const { bigint, boolean, index, integer, json, jsonb, pgTable, primaryKey, text, uniqueIndex } = pgCore;

export const runStatuses = ['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof runStatuses)[number];
export const activeRunStatuses = ['queued', 'running'] as const satisfies readonly RunStatus[];

export const runTriggers = ['manual', 'schedule', 'api', 'cli'] as const;
export type RunTrigger = (typeof runTriggers)[number];

/**
 * Where a run is: planning writes the outbox, `planned` means the outbox is complete (and the mass-delete
 * guard has yet to pass), `delivering` sends it. A resumed run starts from its phase, never before it.
 */
export const runPhases = ['pending', 'planning', 'planned', 'delivering', 'done'] as const;
export type RunPhase = (typeof runPhases)[number];

/** Counts by outcome, kept on the run as it goes (updated as each batch lands, so progress is visible). */
export interface RunCounts {
  /** Rows the model returned. */
  rows: number;
  planned: {
    insert: number;
    update: number;
    upsert: number;
    delete: number;
    unchanged: number;
    skipped: number;
  };
  accepted: number;
  rejected: number;
  invalid: number;
  pending: number;
  /** Records left unsent because the run was cancelled; they come back next run. */
  cancelled: number;
}

export const syncRuns = pgTable(
  'sync_runs',
  {
    id: text('id').primaryKey(),
    syncId: text('sync_id')
      .notNull()
      .references(() => syncs.id, { onDelete: 'cascade' }),
    status: text('status').$type<RunStatus>().notNull().default('queued'),
    trigger: text('trigger').$type<RunTrigger>().notNull(),
    fullResync: boolean('full_resync').notNull().default(false),
    dryRun: boolean('dry_run').notNull().default(false),
    allowMassDelete: boolean('allow_mass_delete').notNull().default(false),
    /** How far the run got (see RunPhase), so a resumed run skips finished phases. */
    phase: text('phase').$type<RunPhase>().notNull().default('pending'),
    /** How many times a worker has claimed this run (a resumed run has attempt > 1). */
    attempt: integer('attempt').notNull().default(0),
    workerId: text('worker_id'),
    leaseExpiresAt: ts('lease_expires_at'),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    /** The due time a scheduler enqueued this run for; unique per sync so it is enqueued once. */
    scheduledFor: ts('scheduled_for'),
    counts: jsonb('counts').$type<RunCounts | null>(),
    /** Dry runs keep a sample of each kind of change here. */
    plan: jsonb('plan').$type<Record<string, unknown> | null>(),
    /** Milliseconds spent per phase (planningMs, deliveringMs), for run history and alerts on slow runs. */
    timings: jsonb('timings').$type<Record<string, number> | null>(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    createdAt: createdAt(),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Invariant 5: at most one active run per sync, enforced by the database for every process.
    uniqueIndex('sync_runs_one_active_per_sync')
      .on(t.syncId)
      .where(sql`${t.status} in ('queued', 'running')`),
    uniqueIndex('sync_runs_scheduled_once')
      .on(t.syncId, t.scheduledFor)
      .where(sql`${t.scheduledFor} is not null`),
    index('sync_runs_claim').on(t.status, t.createdAt),
    index('sync_runs_by_sync').on(t.syncId, t.createdAt),
  ],
);

/**
 * The sync's snapshot: what the destination has accepted, one row per model primary key. Advanced only
 * in the transaction that records an accepted outcome (invariant 2).
 */
export const syncSnapshots = pgTable(
  'sync_snapshots',
  {
    syncId: text('sync_id')
      .notNull()
      .references(() => syncs.id, { onDelete: 'cascade' }),
    pk: text('pk').notNull(),
    fingerprint: text('fingerprint').notNull(),
    /** The destination identifier value last sent (e.g. the email), needed to remove the record later. */
    identifier: text('identifier'),
    /** The destination's own record id, when it returned one. */
    destinationRecordId: text('destination_record_id'),
    runId: text('run_id'),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.syncId, t.pk] })],
);

export const recordOperations = ['insert', 'update', 'upsert', 'delete'] as const;
export type RecordOperation = (typeof recordOperations)[number];
export const recordStatuses = ['pending', 'accepted', 'rejected', 'invalid', 'cancelled'] as const;
export type RecordStatus = (typeof recordStatuses)[number];

/**
 * A run's outbox and its per-record outcomes in one table: planned changes are written here before any
 * is sent (durable, resumable), and each row ends accepted, rejected (destination's reason) or invalid
 * (Ebb's reason).
 */
export const runRecords = pgTable(
  'run_records',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /**
     * No foreign key, on purpose: its check runs once per inserted row, and planning inserts a whole
     * outbox (a million rows on a first sync) in one statement, where the check cost more than a third of
     * the insert. Only the planner writes here, for a run it has just claimed; runs are deleted only with
     * their sync, and deleting a sync deletes its runs' records explicitly, in the same transaction.
     */
    runId: text('run_id').notNull(),
    syncId: text('sync_id').notNull(),
    /** The model's primary key as text; null only for rows invalid because the key was null. */
    pk: text('pk'),
    operation: text('operation').$type<RecordOperation>(),
    fingerprint: text('fingerprint'),
    /**
     * json, not jsonb: the planner writes canonical JSON text (keys sorted), which json stores as it is,
     * about 20% cheaper to insert than jsonb's conversion on a million-row outbox, smaller, and read back
     * without re-serialising. Nothing queries inside it.
     */
    payload: json('payload').$type<Record<string, unknown> | null>(),
    identifier: text('identifier'),
    destinationRecordId: text('destination_record_id'),
    idempotencyKey: text('idempotency_key'),
    status: text('status').$type<RecordStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    reason: text('reason'),
    updatedAt: updatedAt(),
  },
  (t) => [
    // The outbox is read and updated by (run, status, id) only. A second index, e.g. on (run, pk), would
    // cost more than the table's heap itself when planning writes a million-row outbox.
    index('run_records_by_status').on(t.runId, t.status, t.id),
  ],
);
