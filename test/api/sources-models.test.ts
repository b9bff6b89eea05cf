import { afterEach, describe, expect, it } from 'vitest';
import { createTestApi, seedConfig, syncBody, type TestApi } from './fixtures.ts';

let api: TestApi | undefined;
afterEach(async () => {
  await api?.store.close();
  api = undefined;
});

const start = async () => {
  api = await createTestApi();
  return api;
};

describe('sources', () => {
  it('creates, lists, reads, updates and deletes a source, never showing its secret', async () => {
    const t = await start();
    const created = await t.call('POST', '/v1/sources', {
      name: 'warehouse',
      kind: 'memory',
      config: { database: 'analytics', password: 'hunter2' },
    });
    expect(created.status).toBe(201);
    const source = created.body as { id: string; config: Record<string, unknown> };
    expect(source.config).toEqual({ database: 'analytics', password: '[redacted]' });
    expect(JSON.stringify(created.body)).not.toContain('hunter2');
    const [stored] = await t.store.query<{ config: unknown; secrets: string }>(
      'select config, secrets from sources',
    );
    expect(stored?.config).toEqual({ database: 'analytics' });
    expect(stored?.secrets).not.toContain('hunter2');

    const listed = await t.call('GET', '/v1/sources');
    expect(listed.body).toEqual({ data: [created.body] });
    expect((await t.call('GET', `/v1/sources/${source.id}`)).body).toEqual(created.body);

    // Sending back the redaction marker keeps the stored secret.
    const updated = await t.call('PATCH', `/v1/sources/${source.id}`, {
      name: 'main warehouse',
      config: { database: 'prod', password: '[redacted]' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name: 'main warehouse',
      config: { database: 'prod', password: '[redacted]' },
    });
    expect((await t.call('POST', `/v1/sources/${source.id}/test`)).body).toEqual({
      ok: true,
      message: 'connected',
    });

    expect((await t.call('DELETE', `/v1/sources/${source.id}`)).status).toBe(204);
    expect((await t.call('GET', `/v1/sources/${source.id}`)).status).toBe(404);
  });

  it('refuses bad input with precise errors', async () => {
    const t = await start();
    expect(await t.call('POST', '/v1/sources', { name: 'w', kind: 'oracle', config: {} })).toMatchObject({
      status: 400,
      body: {
        error: {
          code: 'validation_failed',
          message: 'Unknown source kind "oracle".',
          details: [{ path: 'kind', message: 'must be one of: memory' }],
        },
      },
    });
    const badConfig = await t.call('POST', '/v1/sources', {
      name: 'w',
      kind: 'memory',
      config: { database: 'x' },
    });
    expect(badConfig.status).toBe(400);
    expect(badConfig.body).toMatchObject({
      error: { code: 'validation_failed', details: [{ path: 'config.password' }] },
    });
    const unknownField = await t.call('POST', '/v1/sources', {
      name: 'w',
      kind: 'memory',
      config: { database: 'x', password: 'y' },
      extra: 1,
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body).toMatchObject({
      error: { code: 'validation_failed', details: [{ path: '(body)' }] },
    });
    expect(JSON.stringify(unknownField.body)).toContain('extra');

    const body = { name: 'w', kind: 'memory', config: { database: 'x', password: 'y' } };
    expect((await t.call('POST', '/v1/sources', body)).status).toBe(201);
    expect(await t.call('POST', '/v1/sources', body)).toMatchObject({
      status: 409,
      body: { error: { code: 'conflict', message: 'A source named "w" already exists.' } },
    });
    expect(await t.call('POST', '/v1/sources', '{"name":')).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_json' } },
    });
    expect(
      await t.call('POST', '/v1/sources', 'name=w', { ...(await t.auth()), 'content-type': 'text/plain' }),
    ).toEqual(
      expect.objectContaining({
        status: 415,
        body: {
          error: {
            code: 'unsupported_media_type',
            message: 'The request body must be JSON (Content-Type: application/json).',
          },
        },
      }),
    );
    expect(await t.call('GET', '/v1/sources/src_doesnotexist')).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', message: 'Source src_doesnotexist does not exist.' } },
    });
  });

  it("answers a failed connection test with the warehouse's own message", async () => {
    const t = await start();
    const created = await t.call('POST', '/v1/sources', {
      name: 'w',
      kind: 'memory',
      config: { database: 'analytics', password: 'wrong' },
    });
    const { id } = created.body as { id: string };
    expect(await t.call('POST', `/v1/sources/${id}/test`)).toMatchObject({
      status: 422,
      body: {
        error: { code: 'connection_failed', message: 'password authentication failed for user "ebb"' },
      },
    });
    await t.call('PATCH', `/v1/sources/${id}`, { config: { database: 'unreachable' } });
    expect(await t.call('POST', `/v1/sources/${id}/test`)).toMatchObject({
      status: 422,
      body: { error: { code: 'connection_failed', message: 'connect ECONNREFUSED 127.0.0.1:1' } },
    });
  });
});

describe('models', () => {
  it('creates a model, previews it, and refuses deleting its source', async () => {
    const t = await start();
    const ids = await seedConfig(t);
    const model = await t.call('GET', `/v1/models/${ids.modelId}`);
    expect(model.body).toMatchObject({ name: 'customers', sql: 'select * from customers', primaryKey: 'id' });

    const preview = await t.call('POST', `/v1/models/${ids.modelId}/preview?limit=2`);
    expect(preview).toMatchObject({
      status: 200,
      body: {
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'email', type: 'text' },
          { name: 'name', type: 'text' },
          { name: 'signed_up', type: 'timestamp with time zone' },
        ],
        rows: [
          { id: 1, email: 'c1@example.com', name: 'Customer 1', signed_up: '2024-01-01T00:00:00.000Z' },
          { id: 2, email: 'c2@example.com', name: 'Customer 2', signed_up: '2024-01-02T00:00:00.000Z' },
        ],
      },
    });
    expect(await t.call('POST', `/v1/models/${ids.modelId}/preview?limit=101`)).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ path: 'limit' }] } },
    });
    expect(await t.call('DELETE', `/v1/sources/${ids.sourceId}`)).toMatchObject({
      status: 409,
      body: {
        error: {
          code: 'conflict',
          message: `Source ${ids.sourceId} is used by model "customers"; delete it first.`,
          details: { models: [{ id: ids.modelId, name: 'customers' }] },
        },
      },
    });
  });

  it('checks the primary key against the columns and passes on the warehouse refusing SQL', async () => {
    const t = await start();
    const ids = await seedConfig(t);
    const base = { name: 'm2', sourceId: ids.sourceId, sql: 'select * from customers' };
    expect(await t.call('POST', '/v1/models', { ...base, primaryKey: 'customer_id' })).toMatchObject({
      status: 400,
      body: {
        error: {
          code: 'validation_failed',
          message:
            'The primary key "customer_id" is not a column of the model; its columns are: id, email, name, signed_up.',
          details: [{ path: 'primaryKey', columns: ['id', 'email', 'name', 'signed_up'] }],
        },
      },
    });
    expect(
      await t.call('POST', '/v1/models', { ...base, sql: 'selec * from customers', primaryKey: 'id' }),
    ).toMatchObject({
      status: 422,
      body: { error: { code: 'sql_rejected', message: 'syntax error at or near "selec"' } },
    });
    expect(
      await t.call('POST', '/v1/models', { ...base, sourceId: 'src_nope', primaryKey: 'id' }),
    ).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', message: 'Source src_nope does not exist.' } },
    });
    expect(await t.call('PATCH', `/v1/models/${ids.modelId}`, { primaryKey: 'nope' })).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ path: 'primaryKey' }] } },
    });
    expect(await t.call('PATCH', `/v1/models/${ids.modelId}`, { primaryKey: 'email' })).toMatchObject({
      status: 200,
      body: { primaryKey: 'email' },
    });
  });

  it('refuses deleting a model or destination a sync uses, naming the sync', async () => {
    const t = await start();
    const ids = await seedConfig(t);
    const sync = await t.call('POST', '/v1/syncs', syncBody(ids));
    expect(sync.status).toBe(201);
    const syncId = (sync.body as { id: string }).id;
    const used = { syncs: [{ id: syncId, name: 'customers to crm' }] };
    expect(await t.call('DELETE', `/v1/models/${ids.modelId}`)).toMatchObject({
      status: 409,
      body: {
        error: {
          code: 'conflict',
          message: `Model ${ids.modelId} is used by sync "customers to crm"; delete or change it first.`,
          details: used,
        },
      },
    });
    expect(await t.call('DELETE', `/v1/destinations/${ids.destinationId}`)).toMatchObject({
      status: 409,
      body: { error: { code: 'conflict', details: used } },
    });
    expect((await t.call('DELETE', `/v1/syncs/${syncId}`)).status).toBe(204);
    expect((await t.call('DELETE', `/v1/models/${ids.modelId}`)).status).toBe(204);
    expect((await t.call('DELETE', `/v1/destinations/${ids.destinationId}`)).status).toBe(204);
  });
});

describe('destinations', () => {
  it('creates, tests and lists objects; redacts the token; reports a failed test', async () => {
    const t = await start();
    const ids = await seedConfig(t);
    const got = await t.call('GET', `/v1/destinations/${ids.destinationId}`);
    expect(got.body).toMatchObject({ kind: 'memory', config: { token: '[redacted]' } });
    expect(JSON.stringify(got.body)).not.toContain('tok_secret');
    expect(await t.call('POST', `/v1/destinations/${ids.destinationId}/test`)).toEqual(
      expect.objectContaining({ status: 200, body: { ok: true } }),
    );
    const objects = await t.call('GET', `/v1/destinations/${ids.destinationId}/objects`);
    expect(objects.body).toMatchObject({
      data: [{ name: 'contacts', fields: [{ name: 'email', unique: true }, {}] }],
    });

    await t.call('PATCH', `/v1/destinations/${ids.destinationId}`, { config: { token: 'bad' } });
    expect(await t.call('POST', `/v1/destinations/${ids.destinationId}/test`)).toMatchObject({
      status: 422,
      body: { error: { code: 'connection_failed', message: '401 Unauthorized: token is invalid' } },
    });
  });
});

describe('model changes and the syncs that use them', () => {
  it('refuses SQL that drops a column a sync maps, naming the sync and the columns', async () => {
    const t = await start();
    const ids = await seedConfig(t);
    expect((await t.call('POST', '/v1/syncs', syncBody(ids))).status).toBe(201);
    const { tables } = await import('./fixtures.ts');
    tables.narrow = {
      columns: [
        { name: 'id', type: 'integer' },
        { name: 'email', type: 'text' },
      ],
      rows: [],
    };
    try {
      const syncId = ((await t.call('GET', '/v1/syncs')).body as { data: { id: string }[] }).data[0]?.id;
      expect(
        await t.call('PATCH', `/v1/models/${ids.modelId}`, { sql: 'select * from narrow' }),
      ).toMatchObject({
        status: 409,
        body: {
          error: {
            code: 'conflict',
            message:
              'The new SQL drops columns that syncs map: "customers to crm" (name). Change those syncs first.',
            details: { syncs: [{ id: syncId, name: 'customers to crm', missingColumns: ['name'] }] },
          },
        },
      });
    } finally {
      delete tables.narrow;
    }
  });
});
