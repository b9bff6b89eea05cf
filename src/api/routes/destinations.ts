import { createRoute } from '@hono/zod-openapi';
import { orm } from '../../db/drizzle.ts';
import { destinations, syncs } from '../../db/schema/index.ts';
import type { App } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { idParams, jsonBody, jsonResponse, list, security } from '../schemas/common.ts';
import {
  connectionTestSchema,
  createDestinationSchema,
  destinationSchema,
  objectsSchema,
  updateDestinationSchema,
} from '../schemas/config-objects.ts';
import { kindedResource } from './kinded-resource.ts';
import { usedBySyncs } from './models.ts';
import { connectorFor, INTERACTIVE_TIMEOUT_MS, withDestination } from './shared.ts';

const { eq } = orm;

const resource = kindedResource({
  table: destinations,
  idKind: 'destination',
  kinds: (deps) => deps.connectors,
  driverFor: connectorFor,
  dependents: (deps, id) =>
    deps.store.db.select({ id: syncs.id, name: syncs.name }).from(syncs).where(eq(syncs.destinationId, id)),
  inUse: usedBySyncs,
});

export const loadDestination = resource.load;

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
  app.openapi(createDestination, async (c) =>
    c.json(await resource.create(c.get('deps'), c.req.valid('json')), 201),
  );
  app.openapi(listDestinations, async (c) => c.json(await resource.list(c.get('deps')), 200));
  app.openapi(getDestination, async (c) =>
    c.json(await resource.get(c.get('deps'), c.req.valid('param').id), 200),
  );
  app.openapi(updateDestination, async (c) =>
    c.json(await resource.update(c.get('deps'), c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(deleteDestination, async (c) => {
    await resource.remove(c.get('deps'), c.req.valid('param').id);
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
