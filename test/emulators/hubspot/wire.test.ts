import { afterEach, describe, expect, it } from 'vitest';
import { type HubspotEmulator, startHubspotEmulator } from './server.ts';

/** The emulator's wire behaviour, checked with plain HTTP so the SDK cannot paper over a difference. */

let emulator: HubspotEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function post(path: string, body: unknown, token = 'test-token') {
  if (!emulator) throw new Error('no emulator');
  const response = await fetch(`${emulator.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

const upsertInput = (i: number) => ({
  idProperty: 'email',
  id: `u${i}@example.com`,
  properties: { firstname: `F${i}` },
});

describe('HubSpot emulator wire protocol', () => {
  it('answers create 201, upsert 200, archive 204 with no body, JSON Content-Type on every response', async () => {
    emulator = await startHubspotEmulator();
    const created = await post('/crm/v3/objects/contacts/batch/create', {
      inputs: [{ properties: { email: 'a@example.com' } }],
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toContain('application/json');
    const upserted = await post('/crm/v3/objects/contacts/batch/upsert', { inputs: [upsertInput(1)] });
    expect(upserted.status).toBe(200);
    expect(upserted.body?.results).toEqual([expect.objectContaining({ new: true })]);
    const id = (created.body?.results as { id: string }[] | undefined)?.[0]?.id;
    const archived = await post('/crm/v3/objects/contacts/batch/archive', { inputs: [{ id }] });
    expect(archived).toMatchObject({ status: 204, body: undefined });
    const unauthorized = await post('/crm/v3/objects/contacts/batch/upsert', { inputs: [] }, 'nope');
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('content-type')).toContain('application/json');
    expect(unauthorized.body).toMatchObject({ status: 'error', category: 'INVALID_AUTHENTICATION' });
  });

  it('rejects more than 100 inputs, and shuffles results (same order for the same seed)', async () => {
    emulator = await startHubspotEmulator({ seed: 3 });
    const tooMany = await post('/crm/v3/objects/contacts/batch/upsert', {
      inputs: Array.from({ length: 101 }, (_, i) => upsertInput(i)),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
    const ok = await post('/crm/v3/objects/contacts/batch/upsert', {
      inputs: Array.from({ length: 20 }, (_, i) => upsertInput(i)),
    });
    const order = ((ok.body?.results ?? []) as { properties: { email: string } }[]).map(
      (r) => r.properties.email,
    );
    expect(order).not.toEqual(Array.from({ length: 20 }, (_, i) => `u${i}@example.com`));
    expect([...order].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}@example.com`).sort());
  });

  it('returns 207 with the failing inputs named in errors[].context.ids', async () => {
    emulator = await startHubspotEmulator();
    const mixed = await post('/crm/v3/objects/contacts/batch/update', {
      inputs: [
        { id: 'nobody@example.com', idProperty: 'email', properties: { firstname: 'X' } },
        { id: '424242', properties: { firstname: 'Y' } },
      ],
    });
    expect(mixed.status).toBe(207);
    expect(mixed.body).toMatchObject({
      status: 'COMPLETE',
      results: [],
      numErrors: 2,
      errors: expect.arrayContaining([
        expect.objectContaining({ category: 'OBJECT_NOT_FOUND', context: { ids: ['nobody@example.com'] } }),
        expect.objectContaining({ context: { ids: ['424242'] } }),
      ]),
    });
  });

  it('fails a whole create without trace ids on one bad input, and only that input with them', async () => {
    emulator = await startHubspotEmulator();
    const inputs = [{ properties: { email: 'good@example.com' } }, { properties: { email: 'bad' } }];
    const whole = await post('/crm/v3/objects/contacts/batch/create', { inputs });
    expect(whole.status).toBe(400);
    expect(emulator.crm.list('contacts')).toHaveLength(0);
    const traced = await post('/crm/v3/objects/contacts/batch/create', {
      inputs: inputs.map((input, i) => ({ ...input, objectWriteTraceId: `t${i}` })),
    });
    expect(traced.status).toBe(207);
    expect(traced.body?.errors).toEqual([
      expect.objectContaining({ context: { objectWriteTraceId: ['t1'] } }),
    ]);
    expect(traced.body?.results).toEqual([expect.objectContaining({ objectWriteTraceId: 't0' })]);
  });

  it('limits requests per rolling window with HubSpot’s 429 body and headers, and counts arrivals per window', async () => {
    emulator = await startHubspotEmulator({ rateLimit: { max: 3, intervalMs: 60_000 } });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await post('/crm/v3/objects/contacts/batch/upsert', { inputs: [upsertInput(i)] });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(last?.body).toMatchObject({
      status: 'error',
      message: 'You have reached your ten_secondly_rolling limit.',
      errorType: 'RATE_LIMIT',
      policyName: 'TEN_SECONDLY_ROLLING',
    });
    expect(last?.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('60000');
    expect(last?.headers.get('x-hubspot-ratelimit-max')).toBe('3');
    expect(last?.headers.get('x-hubspot-ratelimit-remaining')).toBe('0');
    expect(emulator.stats).toMatchObject({ rateLimited: 2, maxInWindow: 5 });
  });

  it('serves property discovery and custom object schemas', async () => {
    emulator = await startHubspotEmulator({
      objectTypes: [
        {
          name: 'cars',
          objectTypeId: '2-1234',
          labels: { singular: 'Car', plural: 'Cars' },
          properties: [
            { name: 'vin', label: 'VIN', type: 'string', fieldType: 'text', hasUniqueValue: true },
          ],
        },
      ],
    });
    const response = await fetch(`${emulator.url}/crm/v3/properties/contacts`, {
      headers: { authorization: 'Bearer test-token' },
    });
    const body = (await response.json()) as { results: { name: string }[] };
    expect(body.results.map((p) => p.name)).toContain('email');
    const schemas = await fetch(`${emulator.url}/crm-object-schemas/v3/schemas`, {
      headers: { authorization: 'Bearer test-token' },
    });
    expect(await schemas.json()).toMatchObject({ results: [{ objectTypeId: '2-1234', name: 'cars' }] });
  });
});
