import { createRoute } from '@hono/zod-openapi';
import { asc, eq } from 'drizzle-orm';
import { models, sources } from '../../db/schema/index.ts';
import { newId } from '../../lib/ids.ts';
import { redactSecrets } from '../../secrets/split.ts';
import type { App, AppDeps } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { idParams, jsonBody, jsonResponse, list, security } from '../schemas/common.ts';
import {
  connectionTestSchema,
  createSourceSchema,
  sourceSchema,
  updateSourceSchema,
} from '../schemas/config-objects.ts';
import {
  INTERACTIVE_TIMEOUT_MS,
  isUniqueViolation,
  looksLikeId,
  nameTaken,
  nextStoredConfig,
  notFound,
  pgErrorCode,
  warehouseDriver,
  withWarehouse,
} from './shared.ts';

type SourceRow = typeof sources.$inferSelect;

export function sourceView(deps: AppDeps, row: SourceRow) {
  const secretFields = deps.warehouses[row.kind]?.secretFields ?? [];
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    config: redactSecrets(row, secretFields, deps.secrets),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function loadSource(deps: AppDeps, id: string): Promise<SourceRow> {
  const [row] = looksLikeId(id) ? await deps.store.db.select().from(sources).where(eq(sources.id, id)) : [];
  if (!row) throw notFound('Source', id);
  return row;
}

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
  app.openapi(createSource, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const driver = deps.warehouses[body.kind];
    if (!driver) {
      throw new ApiError('validation_failed', `Unknown source kind "${body.kind}".`, [
        { path: 'kind', message: `must be one of: ${Object.keys(deps.warehouses).join(', ') || '(none)'}` },
      ]);
    }
    const stored = nextStoredConfig(deps, driver, body.config);
    try {
      const [row] = await deps.store.db
        .insert(sources)
        .values({
          id: newId('source'),
          name: body.name,
          kind: body.kind,
          config: stored.config,
          secrets: stored.secrets,
        })
        .returning();
      if (!row) throw new Error('inserting a source returned no row');
      return c.json(sourceView(deps, row), 201);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('source', body.name);
      throw error;
    }
  });

  app.openapi(listSources, async (c) => {
    const deps = c.get('deps');
    const rows = await deps.store.db.select().from(sources).orderBy(asc(sources.name));
    return c.json({ data: rows.map((row) => sourceView(deps, row)) }, 200);
  });

  app.openapi(getSource, async (c) => {
    const deps = c.get('deps');
    return c.json(sourceView(deps, await loadSource(deps, c.req.valid('param').id)), 200);
  });

  app.openapi(updateSource, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const current = await loadSource(deps, c.req.valid('param').id);
    const stored = body.config
      ? nextStoredConfig(deps, warehouseDriver(deps, current.kind), body.config, current)
      : { config: current.config, secrets: current.secrets };
    try {
      const [row] = await deps.store.db
        .update(sources)
        .set({
          name: body.name ?? current.name,
          config: stored.config,
          secrets: stored.secrets,
          updatedAt: new Date(),
        })
        .where(eq(sources.id, current.id))
        .returning();
      if (!row) throw notFound('Source', current.id);
      return c.json(sourceView(deps, row), 200);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('source', body.name ?? current.name);
      throw error;
    }
  });

  app.openapi(deleteSource, async (c) => {
    const deps = c.get('deps');
    const current = await loadSource(deps, c.req.valid('param').id);
    const users = await deps.store.db
      .select({ id: models.id, name: models.name })
      .from(models)
      .where(eq(models.sourceId, current.id));
    if (users.length > 0) {
      throw new ApiError(
        'conflict',
        `Source ${current.id} is used by ${users.length === 1 ? 'model' : 'models'} ${users.map((m) => `"${m.name}"`).join(', ')}; delete ${users.length === 1 ? 'it' : 'them'} first.`,
        { models: users },
      );
    }
    try {
      await deps.store.db.delete(sources).where(eq(sources.id, current.id));
    } catch (error) {
      // A model created between the check and the delete: the foreign key refuses, say so.
      if (pgErrorCode(error) === '23503') {
        throw new ApiError('conflict', `Source ${current.id} is used by a model; delete it first.`);
      }
      throw error;
    }
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
export async function modelColumns(deps: AppDeps, source: SourceRow, sql: string) {
  return withWarehouse(
    deps,
    source,
    (warehouse) => warehouse.columns(sql, { statementTimeoutMs: INTERACTIVE_TIMEOUT_MS }),
    'sql_rejected',
  );
}
