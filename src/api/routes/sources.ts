import { createRoute } from '@hono/zod-openapi';
import { orm } from '../../db/drizzle.ts';
import { models, sources } from '../../db/schema/index.ts';
import type { App, AppDeps } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { idParams, jsonBody, jsonResponse, list, security } from '../schemas/common.ts';
import {
  connectionTestSchema,
  createSourceSchema,
  sourceSchema,
  updateSourceSchema,
} from '../schemas/config-objects.ts';
import { type Dependent, type KindedRow, kindedResource } from './kinded-resource.ts';
import { INTERACTIVE_TIMEOUT_MS, warehouseDriver, withWarehouse } from './shared.ts';

const { eq } = orm;

/** A source is used by models; the foreign key keeps one from going while a model still reads it. */
function usedByModels(what: string, users: Dependent[]): ApiError {
  if (users.length === 0) return new ApiError('conflict', `${what} is used by a model; delete it first.`);
  return new ApiError(
    'conflict',
    `${what} is used by ${users.length === 1 ? 'model' : 'models'} ${users.map((m) => `"${m.name}"`).join(', ')}; delete ${users.length === 1 ? 'it' : 'them'} first.`,
    { models: users },
  );
}

const resource = kindedResource({
  table: sources,
  idKind: 'source',
  kinds: (deps) => deps.warehouses,
  driverFor: warehouseDriver,
  dependents: (deps, id) =>
    deps.store.db.select({ id: models.id, name: models.name }).from(models).where(eq(models.sourceId, id)),
  inUse: usedByModels,
});

export const sourceView = resource.view;
export const loadSource = resource.load;

const tags = ['sources'];
const one = jsonResponse(sourceSchema, 'The source');

const createSource = createRoute({
  method: 'post',
  path: '/v1/sources',
  tags,
  security,
  summary: 'Create a source (a warehouse connection)',
  request: { body: jsonBody(createSourceSchema, 'Name, kind and config; secret fields are encrypted') },
  responses: { 201: jsonResponse(sourceSchema, 'Created'), ...errorResponses(400, 401, 403, 409, 415) },
});
const listSources = createRoute({
  method: 'get',
  path: '/v1/sources',
  tags,
  security,
  summary: 'List sources',
  responses: { 200: jsonResponse(list(sourceSchema, 'SourceList'), 'Sources'), ...errorResponses(401) },
});
const getSource = createRoute({
  method: 'get',
  path: '/v1/sources/{id}',
  tags,
  security,
  summary: 'Get a source',
  request: { params: idParams },
  responses: { 200: one, ...errorResponses(401, 404) },
});
const updateSource = createRoute({
  method: 'patch',
  path: '/v1/sources/{id}',
  tags,
  security,
  summary: 'Update a source',
  request: { params: idParams, body: jsonBody(updateSourceSchema, 'Fields to change') },
  responses: { 200: one, ...errorResponses(400, 401, 403, 404, 409, 415) },
});
const deleteSource = createRoute({
  method: 'delete',
  path: '/v1/sources/{id}',
  tags,
  security,
  summary: 'Delete a source no model uses',
  request: { params: idParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
});
const testSource = createRoute({
  method: 'post',
  path: '/v1/sources/{id}/test',
  tags,
  security,
  summary: "Check the connection; a failure answers 422 with the warehouse's own message",
  request: { params: idParams },
  responses: { 200: jsonResponse(connectionTestSchema, 'Connected'), ...errorResponses(401, 403, 404, 422) },
});

export function registerSources(app: App) {
  app.openapi(createSource, async (c) =>
    c.json(await resource.create(c.get('deps'), c.req.valid('json')), 201),
  );
  app.openapi(listSources, async (c) => c.json(await resource.list(c.get('deps')), 200));
  app.openapi(getSource, async (c) =>
    c.json(await resource.get(c.get('deps'), c.req.valid('param').id), 200),
  );
  app.openapi(updateSource, async (c) =>
    c.json(await resource.update(c.get('deps'), c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(deleteSource, async (c) => {
    await resource.remove(c.get('deps'), c.req.valid('param').id);
    return c.body(null, 204);
  });

  app.openapi(testSource, async (c) => {
    const deps = c.get('deps');
    const current = await loadSource(deps, c.req.valid('param').id);
    const result = await withWarehouse(deps, current, (warehouse) => warehouse.test());
    if (!result.ok) throw new ApiError('connection_failed', result.message);
    return c.json({ ok: true as const, ...(result.message ? { message: result.message } : {}) }, 200);
  });
}

/** Column names and types of a model's SQL on its source, with the warehouse's message on refusal. */
export async function modelColumns(deps: AppDeps, source: KindedRow, sql: string) {
  return withWarehouse(
    deps,
    source,
    (warehouse) => warehouse.columns(sql, { statementTimeoutMs: INTERACTIVE_TIMEOUT_MS }),
    'sql_rejected',
  );
}
