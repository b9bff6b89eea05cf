import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectors } from '../../connectors/index.ts';
import { loadConfig } from '../../src/config.ts';
import { warehouseDrivers } from '../../src/warehouses/index.ts';
import { createEngineDeps } from '../../src/worker/engine-deps.ts';
import { startWorker, type Worker } from '../../src/worker/worker.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../emulators/webhook/server.ts';
import { createTestApi, type TestApi } from './fixtures.ts';

let api: TestApi | undefined;
let receiver: WebhookReceiver | undefined;
let worker: Worker | undefined;
let closeLimiters: (() => Promise<void>) | undefined;
afterEach(async () => {
  await worker?.stop();
  await closeLimiters?.();
  await receiver?.close();
  await api?.store.close();
  api = undefined;
  receiver = undefined;
  worker = undefined;
  closeLimiters = undefined;
});

const demoDirectory = path.resolve(import.meta.dirname, '../../src/demo');

async function waitForRun(t: TestApi, runId: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const run = await t.call('GET', `/v1/runs/${runId}`);
    const status = (run.body as { status: string }).status;
    if (status !== 'queued' && status !== 'running') return run.body as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${status} after 60 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('end to end through the API alone', () => {
  it('configures a DuckDB model and a webhook, runs the sync, and reads the outcomes back', async () => {
    const t = await createTestApi({ warehouses: warehouseDrivers, connectors });
    api = t;
    const signingSecret = `whsec_${randomBytes(24).toString('base64')}`;
    const hook = await startWebhookReceiver({ secrets: [signingSecret] });
    receiver = hook;
    const engine = createEngineDeps(
      {
        config: { ...loadConfig({}), allowPrivateNetwork: true },
        logger: t.deps.logger,
        store: t.store,
        secrets: t.deps.secrets,
      },
      { connectors, warehouses: warehouseDrivers },
    );
    closeLimiters = () => engine.limiters.close();
    worker = startWorker({ ...engine, concurrency: 1, pollIntervalMs: 20, leaseMs: 30_000 });

    const source = await t.call('POST', '/v1/sources', {
      name: 'demo',
      kind: 'duckdb',
      config: { directory: demoDirectory },
    });
    expect(source.status).toBe(201);
    const sourceId = (source.body as { id: string }).id;
    expect((await t.call('POST', `/v1/sources/${sourceId}/test`)).status).toBe(200);

    const sql = 'select id, email, first_name, plan from customers where id <= 300';
    const model = await t.call('POST', '/v1/models', { name: 'customers', sourceId, sql, primaryKey: 'id' });
    expect(model.status).toBe(201);
    const modelId = (model.body as { id: string }).id;
    const preview = await t.call('POST', `/v1/models/${modelId}/preview?limit=2`);
    expect(preview.body).toMatchObject({
      columns: [{ name: 'id' }, { name: 'email' }, { name: 'first_name' }, { name: 'plan' }],
      rows: [{ email: 'hana.andersen.1@quarrylabs.example', first_name: 'Hana', plan: 'free' }, {}],
    });

    const destination = await t.call('POST', '/v1/destinations', {
      name: 'receiver',
      kind: 'webhook',
      config: { url: `${hook.url}/hooks`, signingSecret, batchSize: 50 },
    });
    expect(destination.status).toBe(201);
    expect(JSON.stringify(destination.body)).not.toContain(signingSecret);
    const destinationId = (destination.body as { id: string }).id;

    const sync = await t.call('POST', '/v1/syncs', {
      name: 'customers to receiver',
      modelId,
      destinationId,
      object: 'customer',
      mode: 'upsert',
      mappings: [
        { from: 'email', to: 'email' },
        { from: 'first_name', to: 'firstName' },
        { from: 'plan', to: 'plan' },
      ],
      schedule: { type: 'manual' },
    });
    expect(sync.status).toBe(201);
    const syncId = (sync.body as { id: string }).id;

    const started = await t.call('POST', `/v1/syncs/${syncId}/runs`);
    expect(started.status).toBe(202);
    const run = await waitForRun(t, (started.body as { id: string }).id);
    expect(run).toMatchObject({
      status: 'succeeded',
      trigger: 'api',
      outcomes: { accepted: 300, rejected: 0, invalid: 0, pending: 0 },
      error: null,
    });
    expect(run.durationMs).toEqual(expect.any(Number));

    // The receiver holds exactly the model, signed and verified.
    expect(hook.stats.badSignatures).toBe(0);
    expect(hook.state.size).toBe(300);
    expect(hook.state.get('1')).toEqual({
      email: 'hana.andersen.1@quarrylabs.example',
      firstName: 'Hana',
      plan: 'free',
    });

    const records: { primaryKey: string; status: string; operation: string }[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const page = await t.call('GET', `/v1/runs/${run.id as string}/records?limit=120${query}`);
      const body = page.body as { data: typeof records; nextCursor: string | null };
      records.push(...body.data);
      cursor = body.nextCursor;
    } while (cursor);
    expect(records).toHaveLength(300);
    expect(new Set(records.map((r) => r.status))).toEqual(new Set(['accepted']));
    expect(new Set(records.map((r) => r.primaryKey)).size).toBe(300);

    // A second run finds nothing changed and sends nothing.
    const requestsBefore = hook.stats.requests;
    const again = await t.call('POST', `/v1/syncs/${syncId}/runs`, { dryRun: false });
    const second = await waitForRun(t, (again.body as { id: string }).id);
    expect(second).toMatchObject({ status: 'succeeded', outcomes: { accepted: 0 } });
    expect(hook.stats.requests).toBe(requestsBefore);
    const history = await t.call('GET', `/v1/syncs/${syncId}/runs`);
    expect((history.body as { data: { id: string }[] }).data.map((r) => r.id)).toEqual([second.id, run.id]);
  });
});
