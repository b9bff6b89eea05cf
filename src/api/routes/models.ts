import { createRoute, z } from '@hono/zod-openapi';
import { orm } from '../../db/drizzle.ts';
import { models, syncs } from '../../db/schema/index.ts';
import { newId } from '../../lib/ids.ts';
import type { ColumnInfo } from '../../warehouses/types.ts';
import type { App, AppDeps } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { idParams, jsonBody, jsonResponse, limitQuery, list, security } from '../schemas/common.ts';
import {
  createModelSchema,
  modelSchema,
  previewSchema,
  updateModelSchema,
} from '../schemas/config-objects.ts';
import {
  INTERACTIVE_TIMEOUT_MS,
  isUniqueViolation,
  jsonValue,
  looksLikeId,
  nameTaken,
  notFound,
  pgErrorCode,
  withWarehouse,
} from './shared.ts';
import { loadSource, modelColumns } from './sources.ts';

const { asc, eq } = orm;

type ModelRow = typeof models.$inferSelect;

const modelView = (row: ModelRow) => ({
  id: row.id,
  name: row.name,
  sourceId: row.sourceId,
  sql: row.sql,
  primaryKey: row.primaryKey,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export async function loadModel(deps: AppDeps, id: string): Promise<ModelRow> {
  const [row] = looksLikeId(id) ? await deps.store.db.select().from(models).where(eq(models.id, id)) : [];
  if (!row) throw notFound('Model', id);
  return row;
}

/** The source a request names in its body: a missing one is a bad field, not a missing route. */
async function referencedSource(deps: AppDeps, sourceId: string) {
  try {
    return await loadSource(deps, sourceId);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'not_found') {
      throw new ApiError('validation_failed', `Source ${sourceId} does not exist.`, [
        { path: 'sourceId', message: 'no source has this id' },
      ]);
    }
    throw error;
  }
}

/** Runs the SQL's column check and insists the primary key is one of them. */
async function checkedColumns(
  deps: AppDeps,
  sourceId: string,
  sql: string,
  primaryKey: string,
): Promise<ColumnInfo[]> {
  const source = await referencedSource(deps, sourceId);
  const columns = await modelColumns(deps, source, sql);
  if (!columns.some((col) => col.name === primaryKey)) {
    const names = columns.map((col) => col.name);
    throw new ApiError(
      'validation_failed',
      `The primary key "${primaryKey}" is not a column of the model; its columns are: ${names.join(', ') || '(none)'}.`,
      [{ path: 'primaryKey', message: `must be one of: ${names.join(', ')}`, columns: names }],
    );
  }
  return columns;
}

/** A model change must not pull a column from under a sync that maps it. */
async function refuseBreakingSyncs(deps: AppDeps, modelId: string, columns: Set<string>) {
  const users = await deps.store.db
    .select({ id: syncs.id, name: syncs.name, identifier: syncs.identifier, mappings: syncs.mappings })
    .from(syncs)
    .where(eq(syncs.modelId, modelId));
  const broken = users.flatMap((sync) => {
    const used = [...(sync.identifier ? [sync.identifier.from] : []), ...sync.mappings.map((m) => m.from)];
    const missing = [...new Set(used.filter((column) => !columns.has(column)))];
    return missing.length > 0 ? [{ id: sync.id, name: sync.name, missingColumns: missing }] : [];
  });
  if (broken.length > 0) {
    const list = broken.map((b) => `"${b.name}" (${b.missingColumns.join(', ')})`).join(', ');
    throw new ApiError(
      'conflict',
      `The new SQL drops columns that syncs map: ${list}. Change those syncs first.`,
      {
        syncs: broken,
      },
    );
  }
}

const tags = ['models'];
const one = jsonResponse(modelSchema, 'The model');

const createModel = createRoute({
  method: 'post',
  path: '/v1/models',
  tags,
  security,
  summary: 'Create a model: SQL on a source, with a primary key',
  request: {
    body: jsonBody(createModelSchema, 'The model; its SQL and primary key are checked on the warehouse'),
  },
  responses: { 201: jsonResponse(modelSchema, 'Created'), ...errorResponses(400, 401, 403, 409, 415, 422) },
});
const listModels = createRoute({
  method: 'get',
  path: '/v1/models',
  tags,
  security,
  summary: 'List models',
  responses: { 200: jsonResponse(list(modelSchema, 'ModelList'), 'Models'), ...errorResponses(401) },
});
const getModel = createRoute({
  method: 'get',
  path: '/v1/models/{id}',
  tags,
  security,
  summary: 'Get a model',
  request: { params: idParams },
  responses: { 200: one, ...errorResponses(401, 404) },
});
const updateModel = createRoute({
  method: 'patch',
  path: '/v1/models/{id}',
  tags,
  security,
  summary: 'Update a model',
  request: { params: idParams, body: jsonBody(updateModelSchema, 'Fields to change') },
  responses: { 200: one, ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
});
const deleteModel = createRoute({
  method: 'delete',
  path: '/v1/models/{id}',
  tags,
  security,
  summary: 'Delete a model no sync uses',
  request: { params: idParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
});
const previewModel = createRoute({
  method: 'post',
  path: '/v1/models/{id}/preview',
  tags,
  security,
  summary: "The model's columns with their types and its first rows",
  request: { params: idParams, query: z.object({ limit: limitQuery(100, 20) }) },
  responses: {
    200: jsonResponse(previewSchema, 'Columns and rows'),
    ...errorResponses(400, 401, 403, 404, 422),
  },
});

export function registerModels(app: App) {
  app.openapi(createModel, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    await checkedColumns(deps, body.sourceId, body.sql, body.primaryKey);
    try {
      const [row] = await deps.store.db
        .insert(models)
        .values({ id: newId('model'), ...body })
        .returning();
      if (!row) throw new Error('inserting a model returned no row');
      return c.json(modelView(row), 201);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('model', body.name);
      throw error;
    }
  });

  app.openapi(listModels, async (c) => {
    const rows = await c.get('deps').store.db.select().from(models).orderBy(asc(models.name));
    return c.json({ data: rows.map(modelView) }, 200);
  });

  app.openapi(getModel, async (c) => {
    return c.json(modelView(await loadModel(c.get('deps'), c.req.valid('param').id)), 200);
  });

  app.openapi(updateModel, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const current = await loadModel(deps, c.req.valid('param').id);
    const next = {
      ...current,
      ...Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)),
    };
    if (
      next.sql !== current.sql ||
      next.primaryKey !== current.primaryKey ||
      next.sourceId !== current.sourceId
    ) {
      const columns = await checkedColumns(deps, next.sourceId, next.sql, next.primaryKey);
      await refuseBreakingSyncs(deps, current.id, new Set(columns.map((col) => col.name)));
    }
    try {
      const [row] = await deps.store.db
        .update(models)
        .set({
          name: next.name,
          sourceId: next.sourceId,
          sql: next.sql,
          primaryKey: next.primaryKey,
          updatedAt: new Date(),
        })
        .where(eq(models.id, current.id))
        .returning();
      if (!row) throw notFound('Model', current.id);
      return c.json(modelView(row), 200);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('model', next.name);
      throw error;
    }
  });

  app.openapi(deleteModel, async (c) => {
    const deps = c.get('deps');
    const current = await loadModel(deps, c.req.valid('param').id);
    const users = await deps.store.db
      .select({ id: syncs.id, name: syncs.name })
      .from(syncs)
      .where(eq(syncs.modelId, current.id));
    if (users.length > 0) throw usedBySyncs(`Model ${current.id}`, users);
    try {
      await deps.store.db.delete(models).where(eq(models.id, current.id));
    } catch (error) {
      if (pgErrorCode(error) === '23503') throw usedBySyncs(`Model ${current.id}`, []);
      throw error;
    }
    return c.body(null, 204);
  });

  app.openapi(previewModel, async (c) => {
    const deps = c.get('deps');
    const current = await loadModel(deps, c.req.valid('param').id);
    const source = await loadSource(deps, current.sourceId);
    const { limit } = c.req.valid('query');
    const preview = await withWarehouse(
      deps,
      source,
      (warehouse) => warehouse.preview(current.sql, limit, { statementTimeoutMs: INTERACTIVE_TIMEOUT_MS }),
      'sql_rejected',
    );
    const rows = preview.rows
      .slice(0, limit)
      .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, jsonValue(v)])));
    return c.json({ columns: preview.columns, rows }, 200);
  });
}

/** The 409 for deleting something syncs still use, naming them so the user knows what to change. */
export function usedBySyncs(what: string, users: { id: string; name: string }[]): ApiError {
  if (users.length === 0)
    return new ApiError('conflict', `${what} is used by a sync; delete the sync first.`);
  const names = users.map((s) => `"${s.name}"`).join(', ');
  return new ApiError(
    'conflict',
    `${what} is used by ${users.length === 1 ? 'sync' : 'syncs'} ${names}; delete or change ${users.length === 1 ? 'it' : 'them'} first.`,
    { syncs: users },
  );
}
