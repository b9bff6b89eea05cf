import { afterEach, describe, expect, it } from 'vitest';
import { ensureAdminKey } from '../../src/auth/keys.ts';
import { createTestApi, seedConfig, type TestApi } from './fixtures.ts';

let api: TestApi | undefined;
afterEach(async () => {
  await api?.store.close();
  api = undefined;
});

/** One request per kind of route: read, change, and key management. */
const probes: { method: string; path: string; body?: unknown; needs: 'viewer' | 'editor' | 'admin' }[] = [
  { method: 'GET', path: '/v1/sources', needs: 'viewer' },
  { method: 'GET', path: '/v1/syncs', needs: 'viewer' },
  {
    method: 'POST',
    path: '/v1/sources',
    body: { name: 'x', kind: 'memory', config: { database: 'd', password: 'p' } },
    needs: 'editor',
  },
  { method: 'DELETE', path: '/v1/syncs/syn_aaaaaaaaaaaaaaaaaaaa', needs: 'editor' },
  { method: 'POST', path: '/v1/api-keys', body: { name: 'ci', role: 'viewer' }, needs: 'admin' },
  { method: 'GET', path: '/v1/api-keys', needs: 'admin' },
];

describe('authentication and roles', () => {
  it('refuses every /v1 route without a key or with a wrong key', async () => {
    api = await createTestApi();
    for (const probe of probes) {
      const none = await api.call(probe.method, probe.path, probe.body, {});
      expect(none.status).toBe(401);
      expect(none.body).toEqual({
        error: {
          code: 'unauthorized',
          message: 'This route needs an API key: send "Authorization: Bearer <API key>".',
        },
      });
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await api.call(probe.method, probe.path, probe.body, {
        authorization: 'Bearer ebb_not_a_real_key',
      });
      expect(wrong).toMatchObject({
        status: 401,
        body: { error: { code: 'unauthorized', message: 'The API key is not valid or has been revoked.' } },
      });
      const basic = await api.call(probe.method, probe.path, probe.body, {
        authorization: 'Basic dXNlcjpwYXNz',
      });
      expect(basic).toMatchObject({
        status: 401,
        body: {
          error: { code: 'unauthorized', message: 'The Authorization header must be "Bearer <API key>".' },
        },
      });
    }
    // Health stays open for load balancers.
    expect((await api.app.request('/health')).status).toBe(200);
  });

  it('lets each role do what it may and no more', async () => {
    api = await createTestApi();
    const rank = { viewer: 0, editor: 1, admin: 2 };
    for (const role of ['viewer', 'editor', 'admin'] as const) {
      const headers = await api.auth(role);
      for (const probe of probes) {
        const result = await api.call(probe.method, probe.path, probe.body, headers);
        if (rank[role] < rank[probe.needs]) {
          expect(result, `${role} ${probe.method} ${probe.path}`).toMatchObject({
            status: 403,
            body: {
              error: {
                code: 'forbidden',
                message: `This request needs the ${probe.needs} role; the API key has the ${role} role.`,
                details: { required: probe.needs, role },
              },
            },
          });
        } else {
          expect([200, 201, 404, 409], `${role} ${probe.method} ${probe.path}`).toContain(result.status);
        }
      }
    }
  });
});

describe('API keys', () => {
  it('shows the secret once, lists keys without secrets, and revokes them', async () => {
    api = await createTestApi();
    const created = await api.call('POST', '/v1/api-keys', { name: 'dbt Cloud', role: 'editor' });
    expect(created.status).toBe(201);
    const key = created.body as { id: string; secret: string; prefix: string };
    expect(key).toMatchObject({ name: 'dbt Cloud', role: 'editor', revokedAt: null, lastUsedAt: null });
    expect(key.secret.startsWith(key.prefix)).toBe(true);
    const [stored] = await api.store.query<{ secret_hash: string }>(
      'select secret_hash from api_keys where id = $1',
      [key.id],
    );
    expect(stored?.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored?.secret_hash).not.toContain(key.secret);

    const bearer = { authorization: `Bearer ${key.secret}` };
    expect((await api.call('GET', '/v1/sources', undefined, bearer)).status).toBe(200);
    const listed = await api.call('GET', '/v1/api-keys');
    expect(JSON.stringify(listed.body)).not.toContain(key.secret);
    expect(listed.body).toMatchObject({
      data: expect.arrayContaining([expect.objectContaining({ id: key.id })]),
    });

    const revoked = await api.call('DELETE', `/v1/api-keys/${key.id}`);
    expect(revoked).toMatchObject({ status: 200, body: { id: key.id, revokedAt: expect.any(String) } });
    expect((await api.call('GET', '/v1/sources', undefined, bearer)).status).toBe(401);
    expect(await api.call('POST', '/v1/api-keys', { name: 'x', role: 'owner' })).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ path: 'role' }] } },
    });
    expect(await api.call('DELETE', '/v1/api-keys/key_missing')).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', message: 'API key key_missing does not exist.' } },
    });
  });

  it('refuses to revoke the last active admin key', async () => {
    api = await createTestApi();
    await api.auth('admin');
    const [admin] = await api.store.query<{ id: string }>(`select id from api_keys where role = 'admin'`);
    expect(await api.call('DELETE', `/v1/api-keys/${admin?.id}`)).toMatchObject({
      status: 409,
      body: {
        error: {
          code: 'conflict',
          message: `API key ${admin?.id} is the last active admin key; create another admin key before revoking it.`,
        },
      },
    });
  });

  it('creates one admin key on first start, and EBB_ADMIN_KEY idempotently', async () => {
    api = await createTestApi();
    const first = await ensureAdminKey(api.store, undefined);
    expect(first.kind).toBe('generated');
    expect(await ensureAdminKey(api.store, undefined)).toEqual({ kind: 'existing' });
    const configured = 'ebb_configured_admin_key_0123456789';
    expect(await ensureAdminKey(api.store, configured)).toEqual({
      kind: 'configured',
      created: true,
      revoked: false,
    });
    expect(await ensureAdminKey(api.store, configured)).toEqual({
      kind: 'configured',
      created: false,
      revoked: false,
    });
    const [count] = await api.store.query<{ n: number }>(
      `select count(*)::int as n from api_keys where role = 'admin'`,
    );
    expect(count?.n).toBe(2);
    const res = await api.call('GET', '/v1/api-keys', undefined, { authorization: `Bearer ${configured}` });
    expect(res.status).toBe(200);
    if (first.kind === 'generated') {
      const own = await api.call('GET', '/v1/syncs', undefined, { authorization: `Bearer ${first.secret}` });
      expect(own.status).toBe(200);
    }
  });

  it('never returns a secret in any configuration response', async () => {
    api = await createTestApi();
    await seedConfig(api);
    for (const path of ['/v1/sources', '/v1/destinations']) {
      const text = JSON.stringify((await api.call('GET', path)).body);
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('tok_secret');
    }
  });
});
