import type { Json, PlannedChange } from '../../../connectors/types.ts';
import type { Queryable, Store } from '../../db/client.ts';
import { type RecordOperation, type RunCounts, recordStatuses } from '../../db/schema/index.ts';

/** One pending record of a run's outbox, as delivery reads it. */
export interface OutboxRecord {
  id: number;
  pk: string;
  operation: RecordOperation;
  fingerprint: string | null;
  /**
   * The mapped fields as the canonical JSON text the planner stored. Kept as text, not parsed per
   * record: a connector that reads `fields` parses it then (see `toChange`), and the batch byte cap
   * is measured on it. A parsed page held ten thousand objects that outlived the young generation.
   */
  payloadText: string | null;
  identifier: string | null;
  destinationRecordId: string | null;
  idempotencyKey: string;
  attempts: number;
}

/** A final outcome for one record, ready to be written. */
export type RecordResult =
  | { record: OutboxRecord; status: 'accepted'; attempts: number; destinationRecordId: string | null }
  | {
      record: OutboxRecord;
      status: 'rejected';
      attempts: number;
      reason: string;
      /**
       * Sent, but no clear answer ever came (timeouts, missing outcomes): the destination may hold the
       * record. A mirror sync keeps such a key in its snapshot with an unknown fingerprint, so the next
       * run either re-sends it (still in the model) or deletes it (gone from the model) instead of leaving
       * a record nobody will ever remove.
       */
      mayExist?: boolean;
    };

/** The delivery owner no longer holds the run: another worker took it over, or it was handed back. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/**
 * One keyset page of pending records, in id order. Pages keep memory bounded by the page size however
 * large the outbox is (invariant 4).
 */
export async function readPendingPage(
  store: Store,
  runId: string,
  afterId: number,
  limit: number,
): Promise<OutboxRecord[]> {
  const rows = await store.query<OutboxRecord & { pk: string | null; idempotencyKey: string | null }>(
    `select id, pk, operation, fingerprint, payload::text as "payloadText", identifier,
       destination_record_id as "destinationRecordId", idempotency_key as "idempotencyKey", attempts
     from run_records
     where run_id = $1 and status = 'pending' and id > $2
     order by id
     limit $3`,
    [runId, afterId, limit],
  );
  for (const row of rows) {
    row.id = Number(row.id);
    // planRun writes both for every pending record; the fallbacks only keep a malformed row deliverable.
    row.pk ??= '';
    row.idempotencyKey ??= `${runId}:${row.id}`;
  }
  return rows;
}

/** The change a connector gets; `fields` is parsed from the stored text when first read. */
export function toChange(record: OutboxRecord): PlannedChange {
  const text = record.operation === 'delete' ? null : record.payloadText;
  let fields: Record<string, Json> | undefined;
  return {
    key: record.pk,
    operation: record.operation,
    idempotencyKey: record.idempotencyKey,
    identifier: record.identifier,
    destinationRecordId: record.destinationRecordId,
    get fields() {
      fields ??= text === null ? {} : (JSON.parse(text) as Record<string, Json>);
      return fields;
    },
    // A connector may still replace the fields, as it could when they were a plain property.
    set fields(value) {
      fields = value;
    },
  };
}

/** `{"key":,"operation":,"idempotencyKey":,"identifier":,"destinationRecordId":,"fields":}` */
const CHANGE_JSON_OVERHEAD = 86;

/** The UTF-8 size of a string as a JSON string, without building the JSON for the common case. */
function jsonStringBytes(value: string | null): number {
  if (value === null) return 4;
  // Characters JSON escapes are rare in keys and ids; only then is the exact form built.
  return needsEscape(value) ? Buffer.byteLength(JSON.stringify(value)) : Buffer.byteLength(value) + 2;
}

/** Whether JSON.stringify escapes anything in `value`: a quote, a backslash, a control character or a lone surrogate. */
function needsEscape(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return true;
  }
  return false;
}

/**
 * The JSON size of a record's change, `JSON.stringify(toChange(record))`, for the batch byte cap:
 * summed from its parts, so packing a page builds no JSON. The stored payload is already JSON.
 */
export function recordBytes(record: OutboxRecord): number {
  const fields =
    record.operation === 'delete' || record.payloadText === null ? 2 : Buffer.byteLength(record.payloadText);
  return (
    CHANGE_JSON_OVERHEAD +
    jsonStringBytes(record.pk) +
    jsonStringBytes(record.operation) +
    jsonStringBytes(record.idempotencyKey) +
    jsonStringBytes(record.identifier) +
    jsonStringBytes(record.destinationRecordId) +
    fields
  );
}

/**
 * Records outcomes and advances the snapshot atomically, in one statement (invariant 2): an accepted
 * upsert/insert/update writes the fingerprint the destination now holds; an accepted delete removes the
 * snapshot row; a rejection leaves the snapshot as it was, so the row comes back next run. The run row
 * is the fence: a share lock, so groups of one run commit side by side, while a takeover (an update of
 * the row) waits for them; if this worker no longer owns the run, nothing is written.
 * One statement rather than a transaction of four: the record step runs for every group of outcomes,
 * and each round trip to the store costs more than the writes themselves on a busy machine.
 */
export async function recordResults(
  store: Queryable,
  run: { id: string; syncId: string; workerId: string },
  results: readonly RecordResult[],
): Promise<void> {
  if (results.length === 0) return;
  const [row] = await store.query<{ owned: boolean }>(
    `with owned as (
       select 1 from sync_runs where id = $1 and worker_id = $2 and status = 'running' for share
     ),
     recorded as (
       update run_records r
       set status = x.status, attempts = x.attempts, reason = x.reason,
         destination_record_id = x.destination_record_id, updated_at = now()
       from jsonb_to_recordset($4::jsonb) as x(id bigint, status text, attempts int, reason text,
         destination_record_id text)
       where exists (select 1 from owned) and r.id = x.id and r.status = 'pending'
     ),
     advanced as (
       insert into sync_snapshots (sync_id, pk, fingerprint, identifier, destination_record_id, run_id, updated_at)
       select $3, x.pk, x.fingerprint, x.identifier, x.drid, $1, now()
       from jsonb_to_recordset($5::jsonb) as x(pk text, fingerprint text, identifier text, drid text)
       where exists (select 1 from owned)
       on conflict (sync_id, pk) do update set fingerprint = excluded.fingerprint,
         identifier = excluded.identifier,
         destination_record_id = coalesce(excluded.destination_record_id, sync_snapshots.destination_record_id),
         run_id = excluded.run_id, updated_at = now()
     ),
     removed as (
       delete from sync_snapshots
       where exists (select 1 from owned) and sync_id = $3
         and pk in (select value from jsonb_array_elements_text($6::jsonb))
     )
     select exists (select 1 from owned) as owned`,
    [run.id, run.workerId, run.syncId, recordParams(results), ...snapshotParams(results)],
  );
  if (!row?.owned) throw new LeaseLostError(`run ${run.id} is no longer held by ${run.workerId}`);
}

/**
 * Moves recorded outcomes from `pending` into the run's visible counts. Progress only: the final counts
 * are recounted from the outbox when the run finishes. Returns false when the run is no longer held.
 */
export async function addProgress(
  store: Queryable,
  run: { id: string; workerId: string },
  delta: { accepted: number; rejected: number },
): Promise<boolean> {
  const updated = await store.execute(
    `update sync_runs set updated_at = now(), counts = ${bumpCounts('$3', '$4')}
     where id = $1 and worker_id = $2 and status = 'running'`,
    [run.id, run.workerId, delta.accepted, delta.rejected],
  );
  return updated > 0;
}

/** counts.accepted += a, counts.rejected += r, counts.pending -= a + r, in SQL so updates never race. */
function bumpCounts(a: string, r: string): string {
  const field = (name: string) => `coalesce((counts->>'${name}')::int, 0)`;
  return `coalesce(counts, '{}'::jsonb) || jsonb_build_object(
    'accepted', ${field('accepted')} + ${a}::int,
    'rejected', ${field('rejected')} + ${r}::int,
    'pending', greatest(${field('pending')} - ${a}::int - ${r}::int, 0))`;
}

/**
 * Outcome rows, updated by primary key only: ids are global and were read from this run's outbox. The
 * planner then drives the update from these rows, one primary-key lookup each. Other shapes are
 * quadratic over a large outbox: an `r.run_id = $1` filter lets it pick the run's status index and scan
 * every pending record of the run per group (a 1M-row first delivery went from 26 s to 65 s), and an
 * extra `r.id = any(ids)` filter made it rescan the whole recordset once per matched row (8 s for one
 * group of 6,000 outcomes).
 */
function recordParams(results: readonly RecordResult[]): string {
  return JSON.stringify(
    results.map((r) => ({
      id: r.record.id,
      status: r.status,
      attempts: r.attempts,
      reason: r.status === 'rejected' ? r.reason : null,
      destination_record_id: r.status === 'accepted' ? r.destinationRecordId : r.record.destinationRecordId,
    })),
  );
}

/**
 * The snapshot rows to write and the pks to remove. Keyed by pk: a group commit carries outcomes of
 * several batches, and one insert statement must not touch a snapshot row twice.
 */
function snapshotParams(results: readonly RecordResult[]): [string, string] {
  const upserts = new Map<
    string,
    { pk: string; fingerprint: string; identifier: string | null; drid: string | null }
  >();
  const deletes = new Set<string>();
  for (const r of results) {
    if (r.status === 'rejected' && r.mayExist && r.record.operation !== 'delete') {
      deletes.delete(r.record.pk);
      // An empty fingerprint never equals a row's, so the key counts as changed next run.
      upserts.set(r.record.pk, {
        pk: r.record.pk,
        fingerprint: '',
        identifier: r.record.identifier,
        drid: r.record.destinationRecordId,
      });
      continue;
    }
    if (r.status !== 'accepted') continue;
    if (r.record.operation === 'delete') {
      upserts.delete(r.record.pk);
      deletes.add(r.record.pk);
    } else {
      deletes.delete(r.record.pk);
      upserts.set(r.record.pk, {
        pk: r.record.pk,
        fingerprint: r.record.fingerprint ?? '',
        identifier: r.record.identifier,
        drid: r.destinationRecordId ?? r.record.destinationRecordId,
      });
    }
  }
  return [JSON.stringify([...upserts.values()]), JSON.stringify([...deletes])];
}

/**
 * Exact counts by outcome from the outbox, for the end of a run. Accepted records are not counted one
 * by one: they are the run's planned changes (exact, written with the outbox) less those still pending,
 * rejected or cancelled, which the status index finds directly. Counting every status read the whole
 * outbox through that index right after delivery rewrote it, with a heap fetch per record (no page was
 * all-visible yet): 30 s at the end of a 5M-record first run.
 */
export async function countOutcomes(
  store: Queryable,
  runId: string,
): Promise<Pick<RunCounts, 'accepted' | 'rejected' | 'invalid' | 'pending' | 'cancelled'>> {
  const [planned] = await store.query<{ sendable: number | null }>(
    `select (counts->'planned'->>'insert')::int + (counts->'planned'->>'update')::int
          + (counts->'planned'->>'upsert')::int + (counts->'planned'->>'delete')::int as sendable
     from sync_runs where id = $1`,
    [runId],
  );
  const sendable = planned?.sendable ?? null;
  const statuses = sendable === null ? recordStatuses : recordStatuses.filter((s) => s !== 'accepted');
  const rows = await store.query<{ status: string; n: number }>(
    'select status, count(*)::int as n from run_records where run_id = $1 and status = any($2::text[]) group by status',
    [runId, [...statuses]],
  );
  const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  const rejected = by.rejected ?? 0;
  const pending = by.pending ?? 0;
  const cancelled = by.cancelled ?? 0;
  return {
    accepted: sendable === null ? (by.accepted ?? 0) : sendable - pending - rejected - cancelled,
    rejected,
    invalid: by.invalid ?? 0,
    pending,
    cancelled,
  };
}
