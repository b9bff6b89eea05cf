import { createRoute } from '@hono/zod-openapi';
import { asc, eq } from 'drizzle-orm';
import { destinations, syncs } from '../../db/schema/index.ts';
import { newId } from '../../lib/ids.ts';
import { redactSecrets } from '../../secrets/split.ts';
import type { App, AppDeps } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { idParams, jsonBody, jsonResponse, list, security } from '../schemas/common.ts';
import {
  connectionTestSchema,
  createDestinationSchema,
  destinationSchema,
  objectsSchema,
  updateDestinationSchema,
} from '../schemas/config-objects.ts';
import { usedBySyncs } from './models.ts';
import {
  connectorFor,
  INTERACTIVE_TIMEOUT_MS,
  isUniqueViolation,
  looksLikeId,
  nameTaken,
  nextStoredConfig,
  notFound,
  pgErrorCode,
  withDestination,
} from './shared.ts';

type DestinationRow = typeof destinations.$inferSelect;

function destinationView(deps: AppDeps, row: DestinationRow) {
  const secretFields = deps.connectors[row.kind]?.secretFields ?? [];
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    config: redactSecrets(row, secretFields, deps.secrets),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function loadDestination(deps: AppDeps, id: string): Promise<DestinationRow> {
  const [row] = looksLikeId(id)
    ? await deps.store.db.select().from(destinations).where(eq(destinations.id, id))
    : [];
  if (!row) throw notFound('Destination', id);
  return row;
}

/** Interactive calls to a destination get a deadline, so a silent endpoint cannot hang the request. */
const interactiveSignal = () => AbortSignal.timeout(INTERACTIVE_TIMEOUT_MS);

const tags = ['destinations'];
const one = jsonResponse(destinationSchema, 'The destination');

const createDestination = createRoute({
  method: 'post',
  path: '/v1/destinations',
  tags,
  security,
  summary: 'Create a destination (a CRM account, a webhook endpoint, a batch API)',
  request: { body: jsonBody(createDestinationSchema, 'Name, kind and config; secret fields are encrypted') },
  responses: { 201: jsonResponse(destinationSchema, 'Created'), ...errorResponses(400, 401, 403, 409, 415) },
});
const listDestinations = createRoute({
  method: 'get',
  path: '/v1/destinations',
  tags,
  security,
  summary: 'List destinations',
  responses: {
    200: jsonResponse(list(destinationSchema, 'DestinationList'), 'Destinations'),
    ...errorResponses(401),
  },
});
const getDestination = createRoute({
  method: 'get',
  path: '/v1/destinations/{id}',
  tags,
  security,
  summary: 'Get a destination',
  request: { params: idParams },
  responses: { 200: one, ...errorResponses(401, 404) },
});
const updateDestination = createRoute({
  method: 'patch',
  path: '/v1/destinations/{id}',
  tags,
  security,
  summary: 'Update a destination',
  request: { params: idParams, body: jsonBody(updateDestinationSchema, 'Fields to change') },
  responses: { 200: one, ...errorResponses(400, 401, 403, 404, 409, 415) },
});
const deleteDestination = createRoute({
  method: 'delete',
  path: '/v1/destinations/{id}',
  tags,
  security,
  summary: 'Delete a destination no sync uses',
  request: { params: idParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
});
const testDestination = createRoute({
  method: 'post',
  path: '/v1/destinations/{id}/test',
  tags,
  security,
  summary: "Check the connection; a failure answers 422 with the destination's message",
  request: { params: idParams },
  responses: { 200: jsonResponse(connectionTestSchema, 'Connected'), ...errorResponses(401, 403, 404, 422) },
});
const listObjects = createRoute({
  method: 'get',
  path: '/v1/destinations/{id}/objects',
  tags,
  security,
  summary: 'The objects (and their fields) a sync can write to, where the destination can list them',
  request: { params: idParams },
  responses: { 200: jsonResponse(objectsSchema, 'Objects'), ...errorResponses(401, 404, 422) },
});

export function registerDestinations(app: App) {
  app.openapi(createDestination, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const connector = deps.connectors[body.kind];
    if (!connector) {
      throw new ApiError('validation_failed', `Unknown destination kind "${body.kind}".`, [
        { path: 'kind', message: `must be one of: ${Object.keys(deps.connectors).join(', ') || '(none)'}` },
      ]);
    }
    const stored = nextStoredConfig(deps, connector, body.config);
    try {
      const [row] = await deps.store.db
        .insert(destinations)
        .values({
          id: newId('destination'),
          name: body.name,
          kind: body.kind,
          config: stored.config,
          secrets: stored.secrets,
        })
        .returning();
      if (!row) throw new Error('inserting a destination returned no row');
      return c.json(destinationView(deps, row), 201);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('destination', body.name);
      throw error;
    }
  });

  app.openapi(listDestinations, async (c) => {
    const deps = c.get('deps');
    const rows = await deps.store.db.select().from(destinations).orderBy(asc(destinations.name));
    return c.json({ data: rows.map((row) => destinationView(deps, row)) }, 200);
  });

  app.openapi(getDestination, async (c) => {
    const deps = c.get('deps');
    return c.json(destinationView(deps, await loadDestination(deps, c.req.valid('param').id)), 200);
  });

  app.openapi(updateDestination, async (c) => {
    const deps = c.get('deps');
    const body = c.req.valid('json');
    const current = await loadDestination(deps, c.req.valid('param').id);
    const stored = body.config
      ? nextStoredConfig(deps, connectorFor(deps, current.kind), body.config, current)
      : { config: current.config, secrets: current.secrets };
    try {
      const [row] = await deps.store.db
        .update(destinations)
        .set({
          name: body.name ?? current.name,
          config: stored.config,
          secrets: stored.secrets,
          updatedAt: new Date(),
        })
        .where(eq(destinations.id, current.id))
        .returning();
      if (!row) throw notFound('Destination', current.id);
      return c.json(destinationView(deps, row), 200);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken('destination', body.name ?? current.name);
      throw error;
    }
  });

  app.openapi(deleteDestination, async (c) => {
    const deps = c.get('deps');
    const current = await loadDestination(deps, c.req.valid('param').id);
    const users = await deps.store.db
      .select({ id: syncs.id, name: syncs.name })
      .from(syncs)
      .where(eq(syncs.destinationId, current.id));
    if (users.length > 0) throw usedBySyncs(`Destination ${current.id}`, users);
    try {
      await deps.store.db.delete(destinations).where(eq(destinations.id, current.id));
    } catch (error) {
      if (pgErrorCode(error) === '23503') throw usedBySyncs(`Destination ${current.id}`, []);
      throw error;
    }
    return c.body(null, 204);
  });

  app.openapi(testDestination, async (c) => {
    const deps = c.get('deps');
    const current = await loadDestination(deps, c.req.valid('param').id);
    const result = await withDestination(deps, current, (client) => client.test(interactiveSignal()));
    if (!result.ok) throw new ApiError('connection_failed', result.message);
    return c.json({ ok: true as const, ...(result.message ? { message: result.message } : {}) }, 200);
  });

  app.openapi(listObjects, async (c) => {
    const deps = c.get('deps');
    const current = await loadDestination(deps, c.req.valid('param').id);
    const objects = await withDestination(deps, current, async (client, connector) => {
      if (!client.listObjects) {
        throw new ApiError(
          'not_supported',
          `${connector.label} destinations cannot list objects; a sync names its object freely.`,
        );
      }
      return client.listObjects(interactiveSignal());
    });
    return c.json({ data: objects }, 200);
  });
}
