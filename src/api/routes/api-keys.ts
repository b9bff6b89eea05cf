import { createRoute } from '@hono/zod-openapi';
import { type ApiKeyView, createApiKey, listApiKeys, revokeApiKey } from '../../auth/keys.ts';
import type { App } from '../context.ts';
import { ApiError, errorResponses } from '../errors.ts';
import { apiKeySchema, createApiKeySchema, createdApiKeySchema } from '../schemas/api-keys.ts';
import { idParams, iso, jsonBody, jsonResponse, list, security } from '../schemas/common.ts';
import { looksLikeId, notFound } from './shared.ts';

const keyView = (key: ApiKeyView) => ({
  id: key.id,
  name: key.name,
  role: key.role,
  prefix: key.prefix,
  createdAt: key.createdAt.toISOString(),
  lastUsedAt: iso(key.lastUsedAt),
  revokedAt: iso(key.revokedAt),
});

const tags = ['api keys'];

const createKey = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  tags,
  security,
  summary: 'Create an API key (admin); its secret is in this response only',
  request: { body: jsonBody(createApiKeySchema, 'Name and role') },
  responses: { 201: jsonResponse(createdApiKeySchema, 'Created'), ...errorResponses(400, 401, 403, 415) },
});
const listKeys = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  tags,
  security,
  summary: 'List API keys (admin), revoked ones included; secrets are never shown',
  responses: { 200: jsonResponse(list(apiKeySchema, 'ApiKeyList'), 'API keys'), ...errorResponses(401, 403) },
});
const revokeKey = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags,
  security,
  summary: 'Revoke an API key (admin); the last active admin key cannot be revoked',
  request: { params: idParams },
  responses: { 200: jsonResponse(apiKeySchema, 'Revoked'), ...errorResponses(401, 403, 404, 409) },
});

export function registerApiKeys(app: App) {
  app.openapi(createKey, async (c) => {
    const { key, secret } = await createApiKey(c.get('deps').store, c.req.valid('json'));
    return c.json({ ...keyView(key), secret }, 201);
  });

  app.openapi(listKeys, async (c) => {
    const keys = await listApiKeys(c.get('deps').store);
    return c.json({ data: keys.map(keyView) }, 200);
  });

  app.openapi(revokeKey, async (c) => {
    const { id } = c.req.valid('param');
    const result = looksLikeId(id)
      ? await revokeApiKey(c.get('deps').store, id)
      : ({ ok: false, reason: 'not_found' } as const);
    if (!result.ok) {
      if (result.reason === 'not_found') throw notFound('API key', id);
      throw new ApiError(
        'conflict',
        `API key ${id} is the last active admin key; create another admin key before revoking it.`,
      );
    }
    return c.json(keyView(result.key), 200);
  });
}
