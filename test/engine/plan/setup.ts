import { afterEach } from 'vitest';
import type { Store } from '../../../src/db/store.ts';
import { newId } from '../../../src/lib/ids.ts';
import { silentLogger } from '../../../src/logger.ts';
import { type PlanInput, planRun } from '../../../src/sync/plan/index.ts';
import type { WarehouseRow } from '../../../src/warehouses/types.ts';
import { createFakeWarehouse } from '../../helpers/fake-warehouse.ts';
import { createTestStore, type TestStore } from '../../helpers/store.ts';

/**
 * Returns `open`, which gives the running test its own store with one seeded sync; the store is
 * closed after the test. Registers the afterEach, so call it once at the top of a test file.
 */
export function seededSyncPerTest(): () => Promise<{ store: TestStore; syncId: string }> {
  let store: TestStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });
  return async () => {
    store = await createTestStore();
    return { store, syncId: await seedSync(store) };
  };
}

/** A sync with its source, model and destination, enough for the engine's foreign keys. */
export async function seedSync(store: Store): Promise<string> {
  const sourceId = newId('source');
  const modelId = newId('model');
  const destinationId = newId('destination');
  const syncId = newId('sync');
  await store.execute(`insert into sources (id, name, kind, config) values ($1, $1, 'postgres', '{}')`, [
    sourceId,
  ]);
  await store.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, 'select 1', 'id')`,
    [modelId, sourceId],
  );
  await store.execute(`insert into destinations (id, name, kind, config) values ($1, $1, 'webhook', '{}')`, [
    destinationId,
  ]);
  await store.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, mappings, schedule)
     values ($1, $1, $2, $3, 'contacts', 'upsert', '[]', '{"type":"manual"}')`,
    [syncId, modelId, destinationId],
  );
  return syncId;
}

/** A finished run row, so several runs of one sync never clash on the one-active-run index. */
export async function newRun(store: Store, syncId: string): Promise<string> {
  const runId = newId('run');
  await store.execute(
    `insert into sync_runs (id, sync_id, trigger, status) values ($1, $2, 'manual', 'succeeded')`,
    [runId, syncId],
  );
  return runId;
}

/** Plans a run of `rows` and accepts all of it: the snapshot the next run is planned against. */
export async function syncOnce(
  store: Store,
  syncId: string,
  rows: WarehouseRow[],
  overrides: Partial<PlanInput> = {},
): Promise<void> {
  const runId = await newRun(store, syncId);
  await planRun(store, planInput(syncId, runId, rows, overrides));
  await acceptAll(store, runId);
}

/**
 * What a destination that accepts everything leaves behind: every pending record accepted, the
 * snapshot advanced (upserts and inserts recorded, deletes removed). Destination ids are `d-<pk>`.
 */
export async function acceptAll(store: Store, runId: string): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.execute(
      `update run_records set status = 'accepted', destination_record_id = coalesce(destination_record_id, 'd-' || pk)
       where run_id = $1 and status = 'pending'`,
      [runId],
    );
    await tx.execute(
      `insert into sync_snapshots (sync_id, pk, fingerprint, identifier, destination_record_id, run_id)
       select sync_id, pk, fingerprint, identifier, destination_record_id, run_id from run_records
       where run_id = $1 and status = 'accepted' and operation <> 'delete'
       on conflict (sync_id, pk) do update set fingerprint = excluded.fingerprint,
         identifier = excluded.identifier, destination_record_id = excluded.destination_record_id,
         run_id = excluded.run_id, updated_at = now()`,
      [runId],
    );
    await tx.execute(
      `delete from sync_snapshots s using run_records r
       where r.run_id = $1 and r.status = 'accepted' and r.operation = 'delete'
         and s.sync_id = r.sync_id and s.pk = r.pk`,
      [runId],
    );
  });
}

export interface RecordRow {
  pk: string | null;
  operation: string | null;
  status: string;
  reason: string | null;
  payload: Record<string, unknown> | null;
  identifier: string | null;
  destinationRecordId: string | null;
  idempotencyKey: string | null;
  fingerprint: string | null;
}

export async function records(store: Store, runId: string): Promise<RecordRow[]> {
  return store.query<RecordRow>(
    `select pk, operation, status, reason, payload, identifier, destination_record_id as "destinationRecordId",
            idempotency_key as "idempotencyKey", fingerprint
     from run_records where run_id = $1 order by pk nulls first, id`,
    [runId],
  );
}

export function people(n: number, start = 1): WarehouseRow[] {
  return Array.from({ length: n }, (_, i) => ({
    id: start + i,
    email: `p${start + i}@example.com`,
    name: `Person ${start + i}`,
    score: (start + i) * 10,
    notes: 'unmapped',
  }));
}

export const peopleColumns = ['id', 'email', 'name', 'score', 'notes'];

/** A plan input for the people model; override what a test varies. */
export function planInput(
  syncId: string,
  runId: string,
  rows: WarehouseRow[],
  overrides: Partial<PlanInput> = {},
): PlanInput {
  return {
    runId,
    syncId,
    mode: 'upsert',
    fullResync: false,
    dryRun: false,
    primaryKey: 'id',
    mappings: [
      { from: 'name', to: 'full_name' },
      { from: 'score', to: 'score' },
    ],
    identifier: { from: 'email', to: 'email' },
    sql: 'select * from people',
    warehouse: createFakeWarehouse({ columns: peopleColumns, rows }),
    statementTimeoutMs: 60_000,
    signal: new AbortController().signal,
    logger: silentLogger,
    ...overrides,
  };
}
