import { createRoute } from '@hono/zod-openapi';
import { orm } from '../../db/drizzle.ts';
import { syncs } from '../../db/schema/index.ts';
import { newId } from '../../lib/ids.ts';
import { firstDueAt } from '../../scheduler/schedule.ts';
import type { App, AppDeps } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { idParams, iso, jsonBody, jsonResponse, list, security } from '../schemas/common.ts';
import { createSyncSchema, syncSchema, updateSyncSchema } from '../schemas/syncs.ts';
import { isUniqueViolation, looksLikeId, nameTaken, notFound } from './shared.ts';
import { type SyncDraft, validateSyncDraft } from './sync-validation.ts';

const { asc, eq } = orm;

export type SyncRow = typeof syncs.$inferSelect;

const draftOf = (row: SyncRow): SyncDraft => ({
  name: row.name,
  modelId: row.modelId,
  destinationId: row.destinationId,
  object: row.object,
  mode: row.mode,
  identifier: row.identifier ?? null,
  mappings: row.mappings,
  schedule: row.schedule,
  enabled: row.enabled,
  massDelete: { maxShare: row.massDeleteMaxShare, minCount: row.massDeleteMinCount },
});

export const syncView = (row: SyncRow) => ({
  id: row.id,
  ...draftOf(row),
  pausedReason: row.pausedReason,
  nextRunAt: iso(row.nextRunAt),
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export async function loadSync(deps: Pick<AppDeps, 'store'>, id: string): Promise<SyncRow> {
  const [row] = looksLikeId(id) ? await deps.store.db.select().from(syncs).where(eq(syncs.id, id)) : [];
  if (!row) throw notFound('Sync', id);
  return row;
}

const columnsOf = (draft: SyncDraft) => ({
  name: draft.name,
  modelId: draft.modelId,
  destinationId: draft.destinationId,
  object: draft.object,
  mode: draft.mode,
  identifier: draft.identifier,
  mappings: draft.mappings,
  schedule: draft.schedule,
  enabled: draft.enabled,
  massDeleteMaxShare: draft.massDelete.maxShare,
  massDeleteMinCount: draft.massDelete.minCount,
});

const tags = ['syncs'];
const one = jsonResponse(syncSchema, 'The sync');

const createSync = createRoute({
  method: 'post',
  path: '/v1/syncs',
  tags,
  security,
  summary: "Create a sync: a model's columns mapped onto a destination object, with a mode and a schedule",
  request: { body: jsonBody(createSyncSchema, 'The sync; checked against the model and the destination') },
  responses: { 201: jsonResponse(syncSchema, 'Created'), ...errorResponses(400, 401, 403, 409, 415, 422) },
});
const listSyncs = createRoute({
  method: 'get',
  path: '/v1/syncs',
  tags,
  security,
  summary: 'List syncs',
  responses: { 200: jsonResponse(list(syncSchema, 'SyncList'), 'Syncs'), ...errorResponses(401) },
});
const getSync = createRoute({
  method: 'get',
  path: '/v1/syncs/{id}',
  tags,
  security,
  summary: 'Get a sync',
  request: { params: idParams },
  responses: { 200: one, ...errorResponses(401, 404) },
});
const updateSync = createRoute({
  method: 'patch',
  path: '/v1/syncs/{id}',
  tags,
  security,
  summary: 'Update a sync; enabling a paused sync clears its paused reason',
  request: { params: idParams, body: jsonBody(updateSyncSchema, 'Fields to change') },
  responses: { 200: one, ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
});
const deleteSync = createRoute({
  method: 'delete',
  path: '/v1/syncs/{id}',
  tags,
  security,
  summary: 'Delete a sync, its runs and its snapshot',
  request: { params: idParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
});

export function registerSyncs(app: App) {
  app.openapi(createSync, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const draft: SyncDraft = {
      ...body,
      identifier: body.identifier ?? null,
      enabled: body.enabled ?? true,
      massDelete: body.massDelete ?? { maxShare: 0.2, minCount: 100 },
    };
    await validateSyncDraft(deps, draft);
    try {
      const [row] = await deps.store.db
        .insert(syncs)
        .values({ id: newId('sync'), ...columnsOf(draft), nextRunAt: firstDueAt(draft.schedule, new Date()) })
        .returning();
      if (!row) throw new Error('inserting a sync returned no row');
      return c.json(syncView(row), 201);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('sync', draft.name);
      throw error;
    }
  });

  app.openapi(listSyncs, async (c) => {
    const rows = await c.get('deps').store.db.select().from(syncs).orderBy(asc(syncs.name));
    return c.json({ data: rows.map(syncView) }, 200);
  });

  app.openapi(getSync, async (c) => {
    return c.json(syncView(await loadSync(c.get('deps'), c.req.valid('param').id)), 200);
  });

  app.openapi(updateSync, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const current = await loadSync(deps, c.req.valid('param').id);
    const patch = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    const draft: SyncDraft = { ...draftOf(current), ...patch };
    await validateSyncDraft(deps, draft);
    const reEnabled = body.enabled === true && (!current.enabled || current.pausedReason !== null);
    const rescheduled =
      body.schedule !== undefined && JSON.stringify(body.schedule) !== JSON.stringify(current.schedule);
    try {
      const [row] = await deps.store.db
        .update(syncs)
        .set({
          ...columnsOf(draft),
          // Enabling is the person's answer to whatever paused the sync (e.g. a webhook's 410).
          ...(reEnabled ? { pausedReason: null } : {}),
          ...(reEnabled || rescheduled ? { nextRunAt: firstDueAt(draft.schedule, new Date()) } : {}),
          updatedAt: new Date(),
        })
        .where(eq(syncs.id, current.id))
        .returning();
      if (!row) throw notFound('Sync', current.id);
      return c.json(syncView(row), 200);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('sync', draft.name);
      throw error;
    }
  });

  app.openapi(deleteSync, async (c) => {
    const deps = c.get('deps');
    const current = await loadSync(deps, c.req.valid('param').id);
    const [active] = await deps.store.query<{ id: string }>(
      `select id from sync_runs where sync_id = $1 and status in ('queued', 'running')`,
      [current.id],
    );
    if (active) {
      throw new ApiError(
        'run_already_active',
        `Sync ${current.id} has an active run (${active.id}); cancel it before deleting the sync.`,
        { activeRunId: active.id },
      );
    }
    // run_records has no foreign key to its run (see the schema), so they go explicitly, atomically.
    await deps.store.transaction(async (tx) => {
      await tx.execute(
        'delete from run_records where run_id in (select id from sync_runs where sync_id = $1)',
        [current.id],
      );
      await tx.execute('delete from syncs where id = $1', [current.id]);
    });
    return c.body(null, 204);
  });
}
