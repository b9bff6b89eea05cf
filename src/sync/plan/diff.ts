import { z } from 'zod';
import type { Json } from '../../../connectors/types.ts';
import type { RunCounts, SyncMode } from '../../db/schema/index.ts';
import type { Queryable } from '../../db/store.ts';
import { invalidReasons } from './encode.ts';
import type { StageTables } from './stage.ts';

/**
 * The diff, in SQL: the stage (this run's model rows) against the sync's snapshot (what the destination
 * has accepted). Postgres does the set work; Node never holds more than a sample.
 */

export interface DiffContext {
  runId: string;
  syncId: string;
  mode: SyncMode;
  fullResync: boolean;
  /** Whether any key occurs twice; when none does, the queries skip the duplicate check. */
  hasDuplicates: boolean;
  /** Records in the snapshot before this run; with none, nothing can be removed. */
  snapshotSize: number;
}

/** What a plan decided per kind of change: the run's stored `counts.planned`. */
export type PlannedCounts = RunCounts['planned'];

/** The operation each added (and, except in insert mode, changed) row gets. */
export function operationFor(mode: SyncMode): 'upsert' | 'update' | 'insert' {
  return mode === 'mirror' ? 'upsert' : mode;
}

function validRows(ctx: DiffContext, tables: StageTables): string {
  const dups = ctx.hasDuplicates ? ` and not exists (select 1 from ${tables.dups} d where d.pk = s.pk)` : '';
  return `s.invalid is null${dups}`;
}

/** Which stage rows the run sends: all in a full resync, new ones in insert mode, else new or changed. */
function changeFilter(ctx: DiffContext): string {
  if (ctx.fullResync) return '';
  if (ctx.mode === 'insert') return ' and t.pk is null';
  return ' and (t.pk is null or t.fingerprint <> s.fp)';
}

/** Rows in the snapshot whose key the model no longer returns, valid or not. */
function removedFrom(tables: StageTables, syncParam: string): string {
  return `from sync_snapshots t
    where t.sync_id = ${syncParam} and not exists (select 1 from ${tables.stage} s where s.pk = t.pk)`;
}

/** Whether the sync has any snapshot row, confirmed or entered for an unconfirmed upsert (run.ts). */
async function hasSnapshotRows(db: Queryable, syncId: string): Promise<boolean> {
  const rows = await db.query('select 1 from sync_snapshots where sync_id = $1 limit 1', [syncId]);
  return rows.length > 0;
}

/** Records the destination confirmed; keys entered for unconfirmed upserts (empty fingerprint) are not. */
export async function countSnapshot(db: Queryable, syncId: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `select count(*)::int as n from sync_snapshots where sync_id = $1 and fingerprint <> ''`,
    [syncId],
  );
  return row?.n ?? 0;
}

/**
 * Writes the run's outbox: invalid rows with Ebb's reason, then one INSERT … SELECT per kind of change.
 * Idempotency keys are md5(sync:operation:fingerprint:pk), the key last so no two inputs collide.
 */
export async function writeOutbox(
  db: Queryable,
  tables: StageTables,
  ctx: DiffContext,
  knownInvalid: number,
): Promise<{ invalid: number; planned: Omit<PlannedCounts, 'unchanged'> }> {
  let invalid = 0;
  if (knownInvalid > 0 || ctx.hasDuplicates) {
    invalid = await db.execute(
      `insert into run_records (run_id, sync_id, pk, fingerprint, payload, identifier, status, reason)
         select $1, $2, s.pk, s.fp, s.payload::json, s.ident, 'invalid',
                case when d.pk is not null then $3 else s.invalid end
         from ${tables.stage} s left join ${tables.dups} d on d.pk = s.pk
         where s.invalid is not null or d.pk is not null`,
      [ctx.runId, ctx.syncId, invalidReasons.duplicatePrimaryKey],
    );
  }
  const operation = operationFor(ctx.mode);
  let sent: number;
  let deleted = 0;
  if (
    ctx.mode === 'mirror' &&
    !ctx.fullResync &&
    (ctx.snapshotSize > 0 || (await hasSnapshotRows(db, ctx.syncId)))
  ) {
    ({ sent, deleted } = await writeMirrorChanges(db, tables, ctx));
  } else {
    sent = await db.execute(
      `insert into run_records (run_id, sync_id, pk, operation, fingerprint, payload, identifier,
           destination_record_id, idempotency_key, status)
         select $1, $2, s.pk, $3, s.fp, s.payload::json, s.ident, t.destination_record_id,
                md5($2::text || ':' || $3::text || ':' || s.fp || ':' || s.pk), 'pending'
         from ${tables.stage} s left join sync_snapshots t on t.sync_id = $2 and t.pk = s.pk
         where ${validRows(ctx, tables)}${changeFilter(ctx)}`,
      [ctx.runId, ctx.syncId, operation],
    );
  }
  let skipped = 0;
  if (ctx.mode === 'insert' && !ctx.fullResync) {
    const [row] = await db.query<{ n: number }>(
      `select count(*)::int as n from ${tables.stage} s
         join sync_snapshots t on t.sync_id = $1 and t.pk = s.pk
         where ${validRows(ctx, tables)} and t.fingerprint <> s.fp`,
      [ctx.syncId],
    );
    skipped = row?.n ?? 0;
  }
  return {
    invalid,
    planned: {
      insert: operation === 'insert' ? sent : 0,
      update: operation === 'update' ? sent : 0,
      upsert: operation === 'upsert' ? sent : 0,
      delete: deleted,
      skipped,
    },
  };
}

/**
 * A mirror run's upserts and deletes from one FULL JOIN of the stage and the snapshot: one hash table
 * instead of two (measured at 1M rows: about 1.0 s + 0.8 s as two statements, one hash build saved).
 * Deletes are ordered after the upserts, as two statements would write them, so delivery's batches of
 * one operation stay whole; only changed rows are sorted. A snapshot row matched by any stage row,
 * valid or not, is not removed: `present` tells a stage row from a missing one, since a stage row's key
 * may itself be null.
 */
async function writeMirrorChanges(
  db: Queryable,
  tables: StageTables,
  ctx: DiffContext,
): Promise<{ sent: number; deleted: number }> {
  const [row] = await db.query<{ sent: number; deleted: number }>(
    `with written as (
       insert into run_records (run_id, sync_id, pk, operation, fingerprint, payload, identifier,
           destination_record_id, idempotency_key, status)
         select $1, $2, coalesce(s.pk, t.pk), op, coalesce(s.fp, t.fingerprint),
                case when s.present then s.payload::json else '{}'::json end,
                case when s.present then s.ident else t.identifier end, t.destination_record_id,
                md5($2::text || ':' || op || ':' || coalesce(s.fp, t.fingerprint) || ':' || coalesce(s.pk, t.pk)),
                'pending'
         from (select *, true as present from ${tables.stage}) s
         full join (select pk, fingerprint, identifier, destination_record_id from sync_snapshots
                    where sync_id = $2) t on t.pk = s.pk
         cross join lateral (select case when s.present then 'upsert' else 'delete' end as op) o
         where s.present is null
            or (${validRows(ctx, tables)} and (t.pk is null or t.fingerprint <> s.fp))
         order by s.present is null
       returning operation)
     select count(*) filter (where operation <> 'delete')::int as sent,
            count(*) filter (where operation = 'delete')::int as deleted
     from written`,
    [ctx.runId, ctx.syncId],
  );
  return { sent: row?.sent ?? 0, deleted: row?.deleted ?? 0 };
}

/** Counts what `writeOutbox` would write, writing nothing (dry runs). */
export async function countDiff(
  db: Queryable,
  tables: StageTables,
  ctx: DiffContext,
): Promise<{ invalid: number; added: number; changed: number; removed: number }> {
  const [rows] = await db.query<{ invalid: number; added: number; changed: number }>(
    `select count(*) filter (where s.invalid is not null or d.pk is not null)::int as invalid,
              count(*) filter (where s.invalid is null and d.pk is null and t.pk is null)::int as added,
              count(*) filter (where s.invalid is null and d.pk is null and t.fingerprint <> s.fp)::int as changed
       from ${tables.stage} s
       left join ${tables.dups} d on d.pk = s.pk
       left join sync_snapshots t on t.sync_id = $1 and t.pk = s.pk`,
    [ctx.syncId],
  );
  let removed = 0;
  if (ctx.mode === 'mirror' && !ctx.fullResync) {
    const [row] = await db.query<{ n: number }>(`select count(*)::int as n ${removedFrom(tables, '$1')}`, [
      ctx.syncId,
    ]);
    removed = row?.n ?? 0;
  }
  return { invalid: rows?.invalid ?? 0, added: rows?.added ?? 0, changed: rows?.changed ?? 0, removed };
}

export interface PlanSample {
  pk: string;
  identifier: string | null;
  /** The mapped fields as they would be sent; empty for removals. */
  fields: Record<string, Json>;
}

const SAMPLE_SIZE = 10;
const sampleRow = z.object({
  pk: z.string(),
  identifier: z.string().nullable(),
  payload: z.string().nullable(),
});
const fieldsSchema = z.record(z.string(), z.json());

function toSample(raw: unknown): PlanSample {
  const row = sampleRow.parse(raw);
  const fields =
    row.payload === null ? {} : (fieldsSchema.parse(JSON.parse(row.payload)) as Record<string, Json>);
  return { pk: row.pk, identifier: row.identifier, fields };
}

/** Up to ten rows of each kind of change, by key, for a dry run. */
export async function sampleDiff(
  db: Queryable,
  tables: StageTables,
  ctx: DiffContext,
): Promise<{ added: PlanSample[]; changed: PlanSample[]; removed: PlanSample[] }> {
  const fromStage = (filter: string) =>
    db.query(
      `select s.pk, s.ident as identifier, s.payload
         from ${tables.stage} s left join sync_snapshots t on t.sync_id = $1 and t.pk = s.pk
         where ${validRows(ctx, tables)} and ${filter}
         order by s.pk limit ${SAMPLE_SIZE}`,
      [ctx.syncId],
    );
  const added = await fromStage('t.pk is null');
  const changed = await fromStage('t.fingerprint <> s.fp');
  const removed =
    ctx.mode === 'mirror' && !ctx.fullResync
      ? await db.query(
          `select t.pk, t.identifier, null as payload ${removedFrom(tables, '$1')}
           order by t.pk limit ${SAMPLE_SIZE}`,
          [ctx.syncId],
        )
      : [];
  return { added: added.map(toSample), changed: changed.map(toSample), removed: removed.map(toSample) };
}
