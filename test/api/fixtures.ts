import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Connector, DestinationClient, PlannedChange } from '../../connectors/types.ts';
import { createApp } from '../../src/api/app.ts';
import type { AppDeps } from '../../src/api/context.ts';
import { createApiKey } from '../../src/auth/keys.ts';
import type { ApiKeyRole } from '../../src/db/schema/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { createSecretBox } from '../../src/secrets/box.ts';
import {
  type ColumnInfo,
  type Warehouse,
  type WarehouseDriver,
  WarehouseError,
  type WarehouseRow,
} from '../../src/warehouses/types.ts';
import { createTestStore, type TestStore } from '../helpers/store.ts';

/** Tables the in-process warehouse serves; a model's SQL must be `select * from <table>`. */
export const tables: Record<string, { columns: ColumnInfo[]; rows: WarehouseRow[] }> = {
  customers: {
    columns: [
      { name: 'id', type: 'integer' },
      { name: 'email', type: 'text' },
      { name: 'name', type: 'text' },
      { name: 'signed_up', type: 'timestamp with time zone' },
    ],
    rows: Array.from({ length: 150 }, (_, i) => ({
      id: i + 1,
      email: `c${i + 1}@example.com`,
      name: `Customer ${i + 1}`,
      signed_up: new Date(Date.UTC(2024, 0, 1 + i)),
    })),
  },
};

const memoryWarehouseConfig = z.strictObject({ database: z.string().min(1), password: z.string().min(1) });

function resolve(sql: string) {
  const match = /^\s*select \* from (\w+)\s*;?\s*$/i.exec(sql);
  if (!match?.[1]) throw new WarehouseError(`syntax error at or near "${sql.trim().split(/\s+/)[0] ?? ''}"`);
  const table = tables[match[1]];
  if (!table) throw new WarehouseError(`relation "${match[1]}" does not exist`);
  return table;
}

/** A warehouse driver in this process, so API tests need no database server for the source. */
export const memoryWarehouse: WarehouseDriver<z.infer<typeof memoryWarehouseConfig>> = {
  kind: 'memory',
  label: 'In-memory',
  configSchema: memoryWarehouseConfig,
  secretFields: ['password'],
  async open(config) {
    if (config.database === 'unreachable') throw new WarehouseError('connect ECONNREFUSED 127.0.0.1:1');
    const warehouse: Warehouse = {
      async test() {
        return config.password === 'wrong'
          ? { ok: false, message: 'password authentication failed for user "ebb"' }
          : { ok: true, message: 'connected' };
      },
      async columns(sql) {
        return resolve(sql).columns;
      },
      async preview(sql, limit) {
        const table = resolve(sql);
        return { columns: table.columns, rows: table.rows.slice(0, limit) };
      },
      async *stream(sql, options) {
        const table = resolve(sql);
        for (let i = 0; i < table.rows.length; i += options.batchSize)
          yield table.rows.slice(i, i + options.batchSize);
      },
      async close() {},
    };
    return warehouse;
  },
};

const memoryDestinationConfig = z.strictObject({ account: z.string().min(1), token: z.string().min(1) });

/** What the in-process destination holds, by account then by identifier. */
export const destinationRecords = new Map<string, Map<string, Record<string, unknown>>>();

export const memoryConnector: Connector<z.infer<typeof memoryDestinationConfig>> = {
  kind: 'memory',
  label: 'In-memory CRM',
  configSchema: memoryDestinationConfig,
  secretFields: ['token'],
  capabilities: () => ({
    modes: ['upsert', 'update', 'mirror'],
    objects: 'discover',
    identifier: 'required',
    maxBatchRecords: 50,
    maxBatchBytes: 1_000_000,
  }),
  limits: () => ({ requestsPerInterval: 1000, intervalMs: 1000, maxConcurrent: 4 }),
  credentialKey: (config) => `memory:${config.account}`,
  create(config) {
    const records = destinationRecords.get(config.account) ?? new Map<string, Record<string, unknown>>();
    destinationRecords.set(config.account, records);
    const client: DestinationClient = {
      async test() {
        return config.token === 'bad'
          ? { ok: false, message: '401 Unauthorized: token is invalid' }
          : { ok: true };
      },
      async listObjects() {
        return [
          {
            name: 'contacts',
            label: 'Contacts',
            fields: [
              { name: 'email', type: 'string', unique: true },
              { name: 'firstname', type: 'string' },
            ],
          },
        ];
      },
      async write(batch: PlannedChange[]) {
        return {
          ok: true,
          outcomes: batch.map((change) => {
            if (change.identifier === 'reject@example.com') {
              return { key: change.key, status: 'rejected' as const, reason: 'INVALID_EMAIL' };
            }
            const id = change.identifier ?? change.key;
            if (change.operation === 'delete') records.delete(id);
            else records.set(id, change.fields);
            return { key: change.key, status: 'accepted' as const, destinationRecordId: id };
          }),
        };
      },
    };
    return client;
  },
};

export interface TestApi {
  store: TestStore;
  deps: AppDeps;
  /** A bearer header for a fresh key of the given role. */
  auth(role?: ApiKeyRole): Promise<Record<string, string>>;
  /** Sends a JSON request as an admin (or with the given headers) and returns status and parsed body. */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: unknown; headers: Headers }>;
  app: ReturnType<typeof createApp>;
}

export async function createTestApi(
  registries: Pick<AppDeps, 'warehouses' | 'connectors'> = {
    warehouses: { memory: memoryWarehouse as unknown as WarehouseDriver },
    connectors: { memory: memoryConnector as unknown as Connector },
  },
): Promise<TestApi> {
  const store = await createTestStore();
  const deps: AppDeps = {
    store,
    logger: silentLogger,
    config: { maxBodyBytes: 256 * 1024, allowPrivateNetwork: true },
    version: 'test',
    secrets: createSecretBox(randomBytes(32)),
    ...registries,
  };
  const app = createApp(deps);
  const keys = new Map<ApiKeyRole, Record<string, string>>();
  const auth = async (role: ApiKeyRole = 'admin') => {
    const existing = keys.get(role);
    if (existing) return existing;
    const { secret } = await createApiKey(store, { name: `test ${role}`, role });
    const header = { authorization: `Bearer ${secret}` };
    keys.set(role, header);
    return header;
  };
  const call: TestApi['call'] = async (method, path, body, headers) => {
    const init: RequestInit = { method, headers: { ...(headers ?? (await auth('admin'))) } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const response = await app.request(path, init);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return { store, deps, auth, call, app };
}

/** Creates a source, a model over `customers`, a destination and returns their ids. */
export async function seedConfig(api: TestApi) {
  const source = await api.call('POST', '/v1/sources', {
    name: 'warehouse',
    kind: 'memory',
    config: { database: 'analytics', password: 'hunter2' },
  });
  const sourceId = (source.body as { id: string }).id;
  const model = await api.call('POST', '/v1/models', {
    name: 'customers',
    sourceId,
    sql: 'select * from customers',
    primaryKey: 'id',
  });
  const modelId = (model.body as { id: string }).id;
  const destination = await api.call('POST', '/v1/destinations', {
    name: 'crm',
    kind: 'memory',
    config: { account: `acct-${randomBytes(4).toString('hex')}`, token: 'tok_secret' },
  });
  const destinationId = (destination.body as { id: string }).id;
  return { sourceId, modelId, destinationId };
}

export const syncBody = (
  ids: { modelId: string; destinationId: string },
  overrides: Record<string, unknown> = {},
) => ({
  name: 'customers to crm',
  modelId: ids.modelId,
  destinationId: ids.destinationId,
  object: 'contacts',
  mode: 'upsert',
  identifier: { from: 'email', to: 'email' },
  mappings: [{ from: 'name', to: 'firstname' }],
  schedule: { type: 'manual' },
  ...overrides,
});
