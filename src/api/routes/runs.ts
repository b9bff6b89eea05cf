import { createRoute, z } from '@hono/zod-openapi';
import { orm } from '../../db/drizzle.ts';
import { type RecordStatus, recordStatuses, syncRuns } from '../../db/schema/index.ts';
import { cancelRun, enqueueRun, resetSync } from '../../sync/queue.ts';
import type { App, AppDeps } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import {
  cursorQuery,
  idParams,
  iso,
  jsonBody,
  jsonResponse,
  limitQuery,
  page,
  security,
} from '../schemas/common.ts';
import {
  cancelResultSchema,
  resetResultSchema,
  runRecordSchema,
  runSchema,
  startRunSchema,
} from '../schemas/runs.ts';
import { looksLikeId, notFound } from './shared.ts';
import { loadSync } from './syncs.ts';

const { eq, inArray } = orm;

type RunRow = typeof syncRuns.$inferSelect;

const emptyOutcomes = (): Record<RecordStatus, number> =>
  Object.fromEntries(recordStatuses.map((s) => [s, 0])) as Record<RecordStatus, number>;

/**
 * A finished run's records by outcome, as it wrote them when it finished (exact: counted from its
 * outbox then, and nothing records outcomes after). A dry run stores no records.
 */
function finishedOutcomes(row: RunRow): Record<RecordStatus, number> {
  const outcomes = emptyOutcomes();
  if (row.dryRun) return outcomes;
  const counts = (row.counts ?? {}) as Partial<Record<RecordStatus, number>>;
  for (const status of recordStatuses) outcomes[status] = counts[status] ?? 0;
  return outcomes;
}

/**
 * Runs with their records by outcome. Only active runs (at most one per sync) are counted from the
 * outbox, in one query per page: counting a finished run's million records again on every list took
 * seconds, and its counts are already exact.
 */
async function runViews(deps: AppDeps, rows: RunRow[]) {
  const outcomes = new Map<string, Record<RecordStatus, number>>();
  const isActive = (row: RunRow) => row.status === 'queued' || row.status === 'running';
  const active = rows.filter(isActive);
  if (active.length > 0) {
    const counted = await deps.store.query<{ runId: string; status: RecordStatus; n: number }>(
      `select run_id as "runId", status, count(*)::int as n from run_records
       where run_id = any($1::text[]) group by run_id, status`,
      [active.map((r) => r.id)],
    );
    for (const { runId, status, n } of counted) {
      const entry = outcomes.get(runId) ?? emptyOutcomes();
      entry[status] = n;
      outcomes.set(runId, entry);
    }
  }
  return rows.map((row) => ({
    id: row.id,
    syncId: row.syncId,
    status: row.status,
    trigger: row.trigger,
    fullResync: row.fullResync,
    dryRun: row.dryRun,
    allowMassDelete: row.allowMassDelete,
    phase: row.phase,
    attempt: row.attempt,
    cancelRequested: row.cancelRequested,
    counts: (row.counts as Record<string, unknown> | null) ?? null,
    outcomes: isActive(row) ? (outcomes.get(row.id) ?? emptyOutcomes()) : finishedOutcomes(row),
    timings: row.timings ?? null,
    plan: row.plan ?? null,
    error: row.errorMessage ? { code: row.errorCode, message: row.errorMessage } : null,
    scheduledFor: iso(row.scheduledFor),
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    durationMs: row.startedAt && row.finishedAt ? row.finishedAt.getTime() - row.startedAt.getTime() : null,
  }));
}

async function loadRun(deps: AppDeps, id: string): Promise<RunRow> {
  const [row] = looksLikeId(id) ? await deps.store.db.select().from(syncRuns).where(eq(syncRuns.id, id)) : [];
  if (!row) throw notFound('Run', id);
  return row;
}

const badCursor = (cursor: string) =>
  new ApiError('validation_failed', `The cursor "${cursor}" is not one this list returned.`, [
    { path: 'cursor', message: 'use nextCursor from the previous page' },
  ]);

const tags = ['runs'];
const runResponse = jsonResponse(runSchema, 'The run');

const startRun = createRoute({
  method: 'post',
  path: '/v1/syncs/{id}/runs',
  tags,
  security,
  summary: 'Start a run; 409 run_already_active (with its id) while another is queued or running',
  request: {
    params: idParams,
    body: { ...jsonBody(startRunSchema, 'Options; the body may be omitted'), required: false },
  },
  responses: { 202: runResponse, ...errorResponses(400, 401, 403, 404, 409, 415) },
});
const listRuns = createRoute({
  method: 'get',
  path: '/v1/syncs/{id}/runs',
  tags,
  security,
  summary: "A sync's runs, newest first",
  request: { params: idParams, query: z.object({ cursor: cursorQuery, limit: limitQuery(100, 20) }) },
  responses: { 200: jsonResponse(page(runSchema, 'RunPage'), 'Runs'), ...errorResponses(400, 401, 404) },
});
const getRun = createRoute({
  method: 'get',
  path: '/v1/runs/{id}',
  tags,
  security,
  summary: 'A run: status, counts by outcome, timings, error, and the plan sample of a dry run',
  request: { params: idParams },
  responses: { 200: runResponse, ...errorResponses(401, 404) },
});
const cancel = createRoute({
  method: 'post',
  path: '/v1/runs/{id}/cancel',
  tags,
  security,
  summary: 'Cancel a run; delivered records stay delivered, the rest is sent next run',
  request: { params: idParams },
  responses: {
    202: jsonResponse(cancelResultSchema, 'Cancelled or cancelling'),
    ...errorResponses(401, 403, 404, 409),
  },
});
const listRecords = createRoute({
  method: 'get',
  path: '/v1/runs/{id}/records',
  tags,
  security,
  summary: "A run's records with operation, outcome, reason and payload",
  request: {
    params: idParams,
    query: z.object({
      status: z
        .enum(recordStatuses)
        .optional()
        .openapi({ param: { name: 'status', in: 'query' } }),
      cursor: cursorQuery,
      limit: limitQuery(1000, 100),
    }),
  },
  responses: {
    200: jsonResponse(page(runRecordSchema, 'RunRecordPage'), 'Records'),
    ...errorResponses(400, 401, 404),
  },
});
const reset = createRoute({
  method: 'post',
  path: '/v1/syncs/{id}/reset',
  tags,
  security,
  summary: "Forget the sync's snapshot without sending anything: the next run treats every row as new",
  request: { params: idParams },
  responses: { 200: jsonResponse(resetResultSchema, 'Reset'), ...errorResponses(401, 403, 404, 409) },
});

export function registerRuns(app: App) {
  app.openapi(startRun, async (c) => {
    const deps = c.get('deps');
    const sync = await loadSync(deps, c.req.valid('param').id);
    if (!sync.enabled) throw new ApiError('conflict', `Sync ${sync.id} is disabled; enable it to run it.`);
    if (sync.pausedReason) {
      throw new ApiError(
        'conflict',
        `Sync ${sync.id} is paused: ${sync.pausedReason}. Enable it again to run it.`,
        {
          pausedReason: sync.pausedReason,
        },
      );
    }
    const result = await enqueueRun(deps.store, { syncId: sync.id, trigger: 'api', ...c.req.valid('json') });
    if (!result.ok) {
      if (result.reason === 'active_run') {
        throw new ApiError(
          'run_already_active',
          `Sync ${sync.id} already has an active run (${result.activeRunId}).`,
          {
            activeRunId: result.activeRunId,
          },
        );
      }
      throw notFound('Sync', sync.id);
    }
    const [view] = await runViews(deps, [await loadRun(deps, result.run.id)]);
    return c.json(view, 202);
  });

  app.openapi(listRuns, async (c) => {
    const deps = c.get('deps');
    const sync = await loadSync(deps, c.req.valid('param').id);
    const { cursor, limit } = c.req.valid('query');
    if (cursor && !looksLikeId(cursor)) throw badCursor(cursor);
    // The cursor is the last run's id; comparing (created_at, id) in SQL keeps microsecond order exact.
    const rows = await deps.store.query<{ id: string }>(
      `select id from sync_runs where sync_id = $1
         and ($2::text is null or (created_at, id) < (select created_at, id from sync_runs where id = $2 and sync_id = $1))
       order by created_at desc, id desc limit $3`,
      [sync.id, cursor ?? null, limit + 1],
    );
    if (cursor) {
      const [known] = await deps.store.query('select 1 from sync_runs where id = $1 and sync_id = $2', [
        cursor,
        sync.id,
      ]);
      if (!known) throw badCursor(cursor);
    }
    const ids = rows.slice(0, limit).map((r) => r.id);
    const byId = new Map(
      ids.length === 0
        ? []
        : (await deps.store.db.select().from(syncRuns).where(inArray(syncRuns.id, ids))).map((r) => [
            r.id,
            r,
          ]),
    );
    // A run deleted between the two queries is left out.
    const runs = ids.flatMap((id) => byId.get(id) ?? []);
    const data = await runViews(deps, runs);
    return c.json({ data, nextCursor: rows.length > limit ? (ids.at(-1) ?? null) : null }, 200);
  });

  app.openapi(getRun, async (c) => {
    const deps = c.get('deps');
    const [view] = await runViews(deps, [await loadRun(deps, c.req.valid('param').id)]);
    return c.json(view, 200);
  });

  app.openapi(cancel, async (c) => {
    const deps = c.get('deps');
    const { id } = c.req.valid('param');
    const result = looksLikeId(id)
      ? await cancelRun(deps.store, id)
      : ({ ok: false, reason: 'run_not_found' } as const);
    if (!result.ok) {
      if (result.reason === 'run_not_found') throw notFound('Run', id);
      const run = await loadRun(deps, id);
      throw new ApiError('conflict', `Run ${id} has already finished (${run.status}).`, {
        status: run.status,
      });
    }
    return c.json({ id, status: result.status }, 202);
  });

  app.openapi(listRecords, async (c) => {
    const deps = c.get('deps');
    const run = await loadRun(deps, c.req.valid('param').id);
    const { status, cursor, limit } = c.req.valid('query');
    const after = cursor === undefined ? 0 : /^\d{1,15}$/.test(cursor) ? Number(cursor) : Number.NaN;
    if (Number.isNaN(after)) throw badCursor(cursor ?? '');
    const rows = await deps.store.query<{
      id: number;
      pk: string | null;
      operation: 'insert' | 'update' | 'upsert' | 'delete' | null;
      status: RecordStatus;
      reason: string | null;
      payload: Record<string, unknown> | null;
      identifier: string | null;
      destinationRecordId: string | null;
      attempts: number;
    }>(
      `select id, pk, operation, status, reason, payload, identifier,
         destination_record_id as "destinationRecordId", attempts
       from run_records where run_id = $1 and ($2::text is null or status = $2) and id > $3
       order by id limit $4`,
      [run.id, status ?? null, after, limit + 1],
    );
    const data = rows
      .slice(0, limit)
      .map(({ pk, id, ...rest }) => ({ id: String(id), primaryKey: pk, ...rest }));
    return c.json({ data, nextCursor: rows.length > limit ? (data.at(-1)?.id ?? null) : null }, 200);
  });

  app.openapi(reset, async (c) => {
    const deps = c.get('deps');
    const sync = await loadSync(deps, c.req.valid('param').id);
    const result = await resetSync(deps.store, sync.id);
    if (!result.ok) {
      if (result.reason === 'active_run') {
        throw new ApiError(
          'run_already_active',
          `Sync ${sync.id} has an active run (${result.activeRunId}); cancel it or wait before resetting.`,
          { activeRunId: result.activeRunId },
        );
      }
      throw notFound('Sync', sync.id);
    }
    return c.json({ syncId: sync.id, forgotten: result.forgotten }, 200);
  });
}
