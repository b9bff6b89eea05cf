import { afterEach, describe, expect, it } from 'vitest';
import { hubspotConnector } from '../../../connectors/hubspot/index.ts';
import { silentLogger } from '../../../src/logger.ts';
import { type HubspotEmulator, startHubspotEmulator } from '../../emulators/hubspot/server.ts';
import { change, contact, context, hubspotClient } from './helpers.ts';

let emulator: HubspotEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('HubSpot connector setup', () => {
  it('lists standard and custom objects with writable fields, flagging the ones usable as upsert key', async () => {
    emulator = await startHubspotEmulator({
      objectTypes: [
        {
          name: 'cars',
          objectTypeId: '2-1234',
          labels: { singular: 'Car', plural: 'Cars' },
          properties: [
            { name: 'vin', label: 'VIN', type: 'string', fieldType: 'text', hasUniqueValue: true },
            { name: 'model', label: 'Model', type: 'string', fieldType: 'text', hasUniqueValue: false },
          ],
        },
      ],
    });
    const client = hubspotClient(emulator);
    const objects = (await client.listObjects?.(new AbortController().signal)) ?? [];
    expect(objects.map((o) => o.name)).toEqual(['contacts', 'companies', 'deals', 'tickets', '2-1234']);
    const contacts = objects.find((o) => o.name === 'contacts');
    expect(contacts?.fields).toContainEqual({ name: 'email', label: 'Email', type: 'string', unique: true });
    expect(contacts?.fields).toContainEqual({
      name: 'external_id',
      label: 'External ID',
      type: 'string',
      unique: true,
    });
    expect(contacts?.fields?.map((f) => f.name)).not.toContain('hs_object_id');
    expect(objects.at(-1)).toMatchObject({
      label: 'Cars',
      fields: [
        { name: 'vin', unique: true },
        { name: 'model', unique: false },
      ],
    });
    // A custom object is written through crm.objects.batchApi by its object type id.
    const result = await client.write(
      [change('c1', 'upsert', { vin: 'VIN1', model: 'T' }, { identifier: 'VIN1' })],
      context('upsert', 'vin', '2-1234'),
    );
    expect(result).toMatchObject({ ok: true, outcomes: [{ key: 'c1', status: 'accepted' }] });
    expect(emulator.crm.list('cars').map((r) => r.properties.vin)).toEqual(['VIN1']);
    await client.close?.();
  });

  it('keys the rate limit by a hash of the token, with per-tier defaults', () => {
    const parse = (input: Record<string, unknown>) => hubspotConnector.configSchema.parse(input);
    const key = hubspotConnector.credentialKey(parse({ accessToken: 'pat-na1-secret' }));
    expect(key).toMatch(/^hubspot:[0-9a-f]{32}$/);
    expect(key).not.toContain('secret');
    expect(hubspotConnector.credentialKey(parse({ accessToken: 'pat-na1-other' }))).not.toBe(key);
    expect(hubspotConnector.limits(parse({ accessToken: 't' }))).toEqual({
      requestsPerInterval: 100,
      intervalMs: 10_000,
      maxConcurrent: 8,
    });
    expect(hubspotConnector.limits(parse({ accessToken: 't', tier: 'professional' }))).toMatchObject({
      requestsPerInterval: 190,
    });
    expect(
      hubspotConnector.limits(
        parse({ accessToken: 't', tier: 'enterprise', limits: { requestsPerInterval: 250 } }),
      ),
    ).toMatchObject({ requestsPerInterval: 250, intervalMs: 10_000 });
    expect(() => parse({ accessToken: '' })).toThrow();
    expect(() => parse({ accessToken: 't', basePath: 'ftp://x' })).toThrow();
  });

  it('refuses a private basePath unless the operator allows private networks', async () => {
    emulator = await startHubspotEmulator();
    const config = hubspotConnector.configSchema.parse({ accessToken: 'test-token', basePath: emulator.url });
    const client = hubspotConnector.create(config, { logger: silentLogger, allowPrivateNetwork: false });
    const result = await client.write([change('a', 'upsert', contact(1))], context('upsert'));
    expect(result).toMatchObject({ ok: false, failure: { kind: 'fatal' } });
    expect(!result.ok && result.failure.reason).toContain(`basePath ${emulator.url} refused`);
    expect(emulator.stats.requests).toBe(0);
    await client.close?.();
  });
});
