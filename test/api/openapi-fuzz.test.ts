import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { connectors } from '../../connectors/index.ts';
import { warehouseDrivers } from '../../src/warehouses/index.ts';
import { createTestApi, seedConfig, syncBody, type TestApi } from './fixtures.ts';

let api: TestApi | undefined;
afterEach(async () => {
  await api?.store.close();
  api = undefined;
});

interface Operation {
  method: string;
  path: string;
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
  refProps: string[];
}

type OpenApiDoc = {
  paths: Record<string, Record<string, { requestBody?: Operation['requestBody']; security?: unknown[] }>>;
  components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> };
};

function operations(doc: OpenApiDoc): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const schema = op.requestBody?.content?.['application/json']?.schema as
        | { $ref?: string; properties?: Record<string, unknown> }
        | undefined;
      const ref = schema?.$ref?.split('/').at(-1);
      const props = ref ? doc.components?.schemas?.[ref]?.properties : schema?.properties;
      ops.push({
        method: method.toUpperCase(),
        path,
        requestBody: op.requestBody,
        refProps: Object.keys(props ?? {}),
      });
    }
  }
  return ops;
}

/** Values that break naive handlers: wrong types, huge and odd strings, deep nesting. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    '🦆'.repeat(50),
    'x'.repeat(70_000),
    '../../etc/passwd',
    "'; drop table syncs; --",
    -1,
    0,
    1e308,
    -0,
    2 ** 53 + 1,
    Number.MAX_SAFE_INTEGER,
    true,
    null,
    [],
    {},
    { type: 'cron', expression: '* * * * * * * *', timezone: 'UTC' },
    { type: 'interval', everySeconds: 1e20 },
    [{ from: 'id', to: 'x' }],
    { from: 'id', to: 'email' },
    JSON.parse(`${'['.repeat(3000)}${']'.repeat(3000)}`),
  ),
);

describe('OpenAPI document', () => {
  it('lists every registered route, each behind bearer auth except health', async () => {
    api = await createTestApi();
    const doc = (await (await api.app.request('/openapi.json')).json()) as OpenApiDoc;
    const documented = new Set(
      operations(doc).map((op) => `${op.method} ${op.path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const registered = api.app.routes
      .filter((r) => r.path.startsWith('/v1/') || r.path === '/health')
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path}`);
    expect(new Set(registered)).toEqual(documented);
    expect(documented.size).toBeGreaterThanOrEqual(30);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const op of Object.values(methods)) {
        if (path !== '/health') expect(op.security, path).toEqual([{ bearer: [] }]);
      }
    }
  });
});

/** Field-aware values, so some random bodies get past validation and reach the handlers' own logic. */
function hintsFor(
  ids: Record<string, string>,
  kinds: { sources: string[]; destinations: string[] },
  configs: unknown[],
) {
  return {
    kind: fc.constantFrom(...kinds.sources, ...kinds.destinations, 'oracle'),
    config: fc.constantFrom(...configs, {}, { url: 'ftp://x' }),
    sourceId: fc.constantFrom(ids.sourceId, 'src_gone'),
    modelId: fc.constantFrom(ids.modelId, 'mdl_gone'),
    destinationId: fc.constantFrom(ids.destinationId, 'dst_gone'),
    sql: fc.constantFrom(
      'select * from customers',
      'select 1 as id',
      'drop table x',
      'select * from nowhere',
    ),
    primaryKey: fc.constantFrom('id', 'email', 'nope'),
    mode: fc.constantFrom('upsert', 'insert', 'mirror', 'update', 'merge'),
    identifier: fc.constantFrom(null, { from: 'email', to: 'email' }, { from: 'x', to: 'y' }),
    mappings: fc.constantFrom(
      [{ from: 'name', to: 'firstname' }],
      [
        { from: 'id', to: 'a' },
        { from: 'id', to: 'a' },
      ],
    ),
    schedule: fc.constantFrom(
      { type: 'manual' },
      { type: 'interval', everySeconds: 60 },
      { type: 'cron', expression: '0 6 * * *', timezone: 'Europe/Paris' },
      { type: 'cron', expression: '0 6 * * *', timezone: 'Nowhere/Town' },
    ),
    role: fc.constantFrom('admin', 'editor', 'viewer', 'root'),
    name: fc.string({ unit: 'binary', maxLength: 20 }),
  } as Record<string, fc.Arbitrary<unknown>>;
}

async function fuzzEveryRoute(t: TestApi, realIds: string[], hints: Record<string, fc.Arbitrary<unknown>>) {
  const doc = (await (await t.app.request('/openapi.json')).json()) as OpenApiDoc;
  const headers = await t.auth('admin');
  const idArb = fc.oneof(
    fc.constantFrom(...realIds),
    fc.string({ unit: 'binary', maxLength: 30 }).map(encodeURIComponent),
    fc.constantFrom('%00', '%F0%9F%A6%86', `syn_${'a'.repeat(200)}`, '..%2F..%2Fhealth'),
  );
  const queryArb = fc.option(
    fc.dictionary(
      fc.constantFrom('limit', 'cursor', 'status', 'x'),
      nasty.map((v) => JSON.stringify(v) ?? ''),
      {
        maxKeys: 3,
      },
    ),
  );
  const contentTypeArb = fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    undefined,
  );
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  for (const op of operations(doc)) {
    const field = (p: string) => (hints[p] ? fc.oneof(hints[p], hints[p], nasty) : nasty);
    const bodyArb = fc.oneof(
      fc
        .record(Object.fromEntries(op.refProps.map((p) => [p, field(p)])), { requiredKeys: [] })
        .map((v) => JSON.stringify(v)),
      nasty.map((v) => JSON.stringify(v) ?? 'null'),
      fc.constantFrom('{', '{"a":1,}', '', 'null', '[]', '\u0000', `{"name":"${'x'.repeat(300_000)}"}`),
    );
    await fc.assert(
      fc.asyncProperty(idArb, bodyArb, contentTypeArb, queryArb, async (id, body, contentType, query) => {
        const path = op.path.replace('{id}', id);
        const search = query ? `?${new URLSearchParams(query).toString()}` : '';
        const init: RequestInit = { method: op.method, headers: { ...headers } };
        if (op.method !== 'GET' && op.method !== 'DELETE') {
          init.body = body;
          if (contentType) (init.headers as Record<string, string>)['content-type'] = contentType;
        }
        const response = await t.app.request(`${path}${search}`, init);
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500) {
          failures.push(`${op.method} ${path}${search} ${body.slice(0, 200)} → ${response.status} ${text}`);
        }
        if (response.status >= 400) {
          const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
          expect(typeof parsed.error?.code).toBe('string');
          expect(typeof parsed.error?.message).toBe('string');
        }
        return response.status < 500;
      }),
      { numRuns: 12, seed: 4242 },
    );
  }
  expect(failures).toEqual([]);
  // The fuzz reaches handlers, not only the validators: some requests succeed, many are refused.
  const seen = [...statuses.keys()];
  expect(seen.some((s) => s < 300)).toBe(true);
  expect(seen).toEqual(expect.arrayContaining([400, 404, 415]));
}

describe('every route from /openapi.json is guarded', () => {
  it('answers 401 without a key and 403 to a role below the one it needs', async () => {
    const t = await createTestApi();
    api = t;
    const doc = (await (await t.app.request('/openapi.json')).json()) as OpenApiDoc;
    const viewer = await t.auth('viewer');
    const editor = await t.auth('editor');
    for (const op of operations(doc)) {
      if (op.path === '/health') continue;
      const path = op.path.replace('{id}', 'syn_aaaaaaaaaaaaaaaaaaaa');
      const init = (headers: Record<string, string>): RequestInit => ({
        method: op.method,
        headers: { ...headers, 'content-type': 'application/json' },
        ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { body: '{}' }),
      });
      const anonymous = await t.app.request(path, init({}));
      expect(anonymous.status, `${op.method} ${op.path}`).toBe(401);
      const isKeys = op.path.startsWith('/v1/api-keys');
      const asViewer = await t.app.request(path, init(viewer));
      if (isKeys || op.method !== 'GET') expect(asViewer.status, `viewer ${op.method} ${op.path}`).toBe(403);
      else expect(asViewer.status, `viewer ${op.method} ${op.path}`).not.toBe(403);
      const asEditor = await t.app.request(path, init(editor));
      if (isKeys) expect(asEditor.status, `editor ${op.method} ${op.path}`).toBe(403);
      else expect(asEditor.status, `editor ${op.method} ${op.path}`).not.toBe(403);
    }
  });
});

describe('fuzzing every route from /openapi.json', () => {
  it('answers random, wrong and hostile input with a 4xx or 2xx, never a 5xx', async () => {
    const t = await createTestApi();
    api = t;
    const ids = await seedConfig(t);
    const sync = await t.call('POST', '/v1/syncs', syncBody(ids));
    const syncId = (sync.body as { id: string }).id;
    const run = await t.call('POST', `/v1/syncs/${syncId}/runs`);
    const runId = (run.body as { id: string }).id;
    const configs = [
      { database: 'analytics', password: 'p' },
      { database: 'unreachable', password: 'p' },
      { account: 'a', token: 'bad' },
    ];
    const hints = hintsFor(ids, { sources: ['memory'], destinations: ['memory'] }, configs);
    await fuzzEveryRoute(t, [ids.sourceId, ids.modelId, ids.destinationId, syncId, runId], hints);
  });

  it('does the same with the source and destination kinds Ebb ships', async () => {
    const t = await createTestApi({ warehouses: warehouseDrivers, connectors });
    api = t;
    const source = await t.call('POST', '/v1/sources', { name: 'duck', kind: 'duckdb', config: {} });
    const sourceId = (source.body as { id: string }).id;
    const model = await t.call('POST', '/v1/models', {
      name: 'm',
      sourceId,
      sql: "select * from (values (1, 'a@example.com', 'A')) t(id, email, name)",
      primaryKey: 'id',
    });
    const modelId = (model.body as { id: string }).id;
    // Nothing listens on port 9: tests and object listing fail the way an unreachable endpoint does.
    const destination = await t.call('POST', '/v1/destinations', {
      name: 'hook',
      kind: 'webhook',
      config: { url: 'http://127.0.0.1:9/hook', timeoutMs: 500 },
    });
    const destinationId = (destination.body as { id: string }).id;
    expect([source.status, model.status, destination.status]).toEqual([201, 201, 201]);
    const configs = [
      {},
      { directory: '/nonexistent' },
      { database: ':memory:' },
      { host: '127.0.0.1', port: 1, database: 'x', user: 'u', password: 'p' },
      { url: 'http://127.0.0.1:9/hook', timeoutMs: 500 },
      { accessToken: 'x', baseUrl: 'http://127.0.0.1:9' },
      { instanceUrl: 'http://127.0.0.1:9', accessToken: 'x' },
    ];
    const hints = hintsFor(
      { sourceId, modelId, destinationId },
      { sources: Object.keys(warehouseDrivers), destinations: Object.keys(connectors) },
      configs,
    );
    await fuzzEveryRoute(t, [sourceId, modelId, destinationId], hints);
  });
});
