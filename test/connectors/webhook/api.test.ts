import { afterEach, describe, expect, it } from 'vitest';
import { connectors } from '../../../connectors/index.ts';
import type { WarehouseDriver } from '../../../src/warehouses/types.ts';
import { createTestApi, memoryWarehouse, type TestApi } from '../../api/fixtures.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../emulators/webhook/server.ts';
import { secretA } from './helpers.ts';

/** A webhook destination through the REST API: secrets encrypted at rest, redacted, and still used. */

let api: TestApi | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  await api?.store.close();
  api = undefined;
  receiver = undefined;
});

describe('webhook destination through the API', () => {
  it('never stores or returns secret headers and the signing secret in clear, yet signs and sends them', async () => {
    receiver = await startWebhookReceiver({ secrets: [secretA] });
    api = await createTestApi({
      warehouses: { memory: memoryWarehouse as unknown as WarehouseDriver },
      connectors,
    });
    const created = await api.call('POST', '/v1/destinations', {
      name: 'hooks',
      kind: 'webhook',
      config: {
        url: `${receiver.url}/ebb`,
        headers: { 'x-tenant': 'acme' },
        secretHeaders: { authorization: 'Bearer s3cret-token' },
        signingSecret: secretA,
      },
    });
    expect(created.status).toBe(201);
    const body = JSON.stringify(created.body);
    expect(body).not.toContain('s3cret-token');
    expect(body).not.toContain(secretA);
    expect(created.body).toMatchObject({
      config: { headers: { 'x-tenant': 'acme' }, secretHeaders: '[redacted]', signingSecret: '[redacted]' },
    });

    const [row] = await api.store.query<{ config: unknown; secrets: string }>(
      'select config, secrets from destinations',
    );
    expect(JSON.stringify(row?.config)).not.toContain('s3cret-token');
    expect(JSON.stringify(row?.config)).not.toContain(secretA);
    expect(row?.secrets).not.toContain('s3cret-token');

    const id = (created.body as { id: string }).id;
    const tested = await api.call('POST', `/v1/destinations/${id}/test`);
    expect(tested.status).toBe(200);
    expect(receiver.requests[0]?.headers).toMatchObject({
      authorization: 'Bearer s3cret-token',
      'x-tenant': 'acme',
    });
    expect(receiver.requests[0]?.json).toMatchObject({ type: 'ebb.test' });
    expect(receiver.stats.badSignatures).toBe(0);
  });

  it('refuses a bad webhook config with a message naming the field', async () => {
    api = await createTestApi({
      warehouses: { memory: memoryWarehouse as unknown as WarehouseDriver },
      connectors,
    });
    const created = await api.call('POST', '/v1/destinations', {
      name: 'hooks',
      kind: 'webhook',
      config: { url: 'ftp://example.test/', headers: { 'webhook-signature': 'forged' } },
    });
    expect(created.status).toBe(400);
    expect(JSON.stringify(created.body)).toMatch(/url/);
  });
});
