import type { MiddlewareHandler } from 'hono';
import { authenticateApiKey } from '../auth/keys.ts';
import type { ApiKeyRole } from '../db/schema/index.ts';
import type { AppEnv } from './context.ts';
import { errorBody } from './errors.ts';

const rank: Record<ApiKeyRole, number> = { viewer: 0, editor: 1, admin: 2 };

/**
 * What a request needs, decided from its method and path in one place so no route can forget it:
 * managing API keys is for admins; anything that changes state, runs SQL on a warehouse or calls a
 * destination (every non-GET) is for editors; reading is for everyone with a key.
 */
export function requiredRole(method: string, path: string): ApiKeyRole {
  if (path === '/v1/api-keys' || path.startsWith('/v1/api-keys/')) return 'admin';
  if (method === 'GET' || method === 'HEAD') return 'viewer';
  return 'editor';
}

function bearerSecret(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/** Every /v1 route requires `Authorization: Bearer <key>` with a role that allows the request. */
export const requireApiKey: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header('authorization');
  const secret = bearerSecret(header);
  if (!secret) {
    c.header('WWW-Authenticate', 'Bearer');
    const message = header
      ? 'The Authorization header must be "Bearer <API key>".'
      : 'This route needs an API key: send "Authorization: Bearer <API key>".';
    return c.json(errorBody('unauthorized', message), 401);
  }
  const principal = await authenticateApiKey(c.get('deps').store, secret);
  if (!principal) {
    c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
    return c.json(errorBody('unauthorized', 'The API key is not valid or has been revoked.'), 401);
  }
  const needed = requiredRole(c.req.method, c.req.path);
  if (rank[principal.role] < rank[needed]) {
    return c.json(
      errorBody(
        'forbidden',
        `This request needs the ${needed} role; the API key has the ${principal.role} role.`,
        {
          required: needed,
          role: principal.role,
        },
      ),
      403,
    );
  }
  c.set('principal', principal);
  await next();
};
