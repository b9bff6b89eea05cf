import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { webhookConnector } from '../../../connectors/webhook/index.ts';
import { createSecretBox } from '../../../src/secrets/box.ts';
import { mergeSecrets, splitSecrets } from '../../../src/secrets/split.ts';
import { startWebhookReceiver } from '../../emulators/webhook/server.ts';
import { cleanupPerTest } from '../../helpers/per-test.ts';
import { context, deps, remove, secretA, secretB, upsert } from './helpers.ts';

const cleanup = cleanupPerTest();

async function setUp(config: Record<string, unknown>, secrets: string[] = [secretA]) {
  const receiver = cleanup.own(await startWebhookReceiver({ secrets }));
  const parsed = webhookConnector.configSchema.parse({
    url: `${receiver.url}/hooks`,
    signingSecret: secretA,
    ...config,
  });
  const client = cleanup.own(webhookConnector.create(parsed, deps));
  return { receiver, client };
}

describe('webhook connector against a Standard Webhooks receiver', () => {
  it('delivers one signed event per record, and the receiver ends equal to the model', async () => {
    const { receiver, client } = await setUp({});
    const first = await client.write(
      [upsert('1', { email: 'a@x.test', plan: 'pro' }), upsert('2', { email: 'b@x.test', plan: 'free' })],
      context(),
    );
    expect(first).toEqual({
      ok: true,
      outcomes: [
        { key: '1', status: 'accepted' },
        { key: '2', status: 'accepted' },
      ],
    });
    const second = await client.write(
      [upsert('2', { email: 'b@x.test', plan: 'pro' }), remove('1')],
      context(),
    );
    expect(second.ok).toBe(true);
    expect(Object.fromEntries(receiver.state)).toEqual({ '2': { email: 'b@x.test', plan: 'pro' } });
    expect(receiver.stats).toMatchObject({ requests: 4, applied: 4, badSignatures: 0, duplicates: 0 });
    expect(receiver.requests[0]?.json).toEqual({
      type: 'ebb.record.upsert',
      object: 'contacts',
      operation: 'upsert',
      key: '1',
      data: { email: 'a@x.test', plan: 'pro' },
    });
    expect(receiver.requests[3]?.json).toEqual({
      type: 'ebb.record.delete',
      object: 'contacts',
      operation: 'delete',
      key: '1',
      data: {},
    });
    expect(receiver.requests[0]?.webhookId).toBe('idem_1_axtest_pro');
  });

  it('signs with every secret while rotating, so a receiver on the new secret still verifies', async () => {
    const { receiver, client } = await setUp({ signingSecret: `${secretA} ${secretB}` }, [secretB]);
    expect((await client.write([upsert('1', { n: 1 })], context())).ok).toBe(true);
    expect(receiver.stats.badSignatures).toBe(0);
    expect(String(receiver.requests[0]?.headers['webhook-signature']).split(' ')).toHaveLength(2);
  });

  it('is refused by a receiver that holds a different secret, with the receiver text', async () => {
    const { client } = await setUp({ signingSecret: secretB });
    expect(await client.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: true,
      outcomes: [{ key: '1', status: 'rejected', reason: 'HTTP 401: No matching signature found' }],
    });
  });

  it('sends a batch as one records array under a stable id', async () => {
    const { receiver, client } = await setUp({ batchSize: 3 });
    const batch = [upsert('1', { n: 1 }), upsert('2', { n: 2 }), remove('3')];
    const result = await client.write(batch, context());
    expect(result.ok && result.outcomes.map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(receiver.requests).toHaveLength(1);
    const body = receiver.requests[0]?.json as { type: string; records: { key: string }[] };
    expect(body.type).toBe('ebb.batch');
    expect(body.records.map((r) => r.key)).toEqual(['1', '2', '3']);
    expect(Object.fromEntries(receiver.state)).toEqual({ '1': { n: 1 }, '2': { n: 2 } });
    // The same batch again carries the same webhook-id, so the receiver sees a duplicate, not new data.
    await client.write([...batch].reverse(), context());
    expect(receiver.stats.duplicates).toBe(1);
  });

  it('shapes the payload with a template: choose, rename, flatten, add constants', async () => {
    const { receiver, client } = await setUp({
      template: {
        wrap: null,
        fields: {
          include: ['email', 'plan', 'key'],
          rename: { email: 'email_address' },
          static: { source: 'ebb' },
        },
      },
    });
    const result = await client.write(
      [
        upsert('1', { email: 'a@x.test', plan: 'pro', internal: 'x' }),
        upsert('2', { key: 'clash', plan: 'free' }),
      ],
      context(),
    );
    expect(result).toEqual({
      ok: true,
      outcomes: [
        {
          key: '2',
          status: 'rejected',
          reason: 'field "key" collides with the payload\'s "key"; rename it in the template',
        },
        { key: '1', status: 'accepted' },
      ],
    });
    expect(receiver.requests.map((r) => r.json)).toEqual([
      {
        type: 'ebb.record.upsert',
        object: 'contacts',
        operation: 'upsert',
        key: '1',
        source: 'ebb',
        email_address: 'a@x.test',
        plan: 'pro',
      },
    ]);
  });

  it('sends secret headers but never keeps them in the stored config', async () => {
    const { receiver } = await setUp({});
    const input = {
      url: `${receiver.url}/hooks`,
      headers: { 'x-tenant': 'acme' },
      secretHeaders: { authorization: 'Bearer s3cret-token' },
      signingSecret: secretA,
    };
    const parsed = webhookConnector.configSchema.parse(input);
    const box = createSecretBox(randomBytes(32));
    const stored = splitSecrets(
      parsed as unknown as Record<string, unknown>,
      webhookConnector.secretFields,
      box,
    );
    expect(JSON.stringify(stored.config)).not.toContain('s3cret-token');
    expect(JSON.stringify(stored.config)).not.toContain(secretA.slice(6));
    expect(stored.secrets).not.toContain('s3cret-token');
    const restored = webhookConnector.configSchema.parse(mergeSecrets(stored, box));
    const client = cleanup.own(webhookConnector.create(restored, deps));
    expect((await client.write([upsert('1', { n: 1 })], context())).ok).toBe(true);
    expect(receiver.requests[0]?.headers).toMatchObject({
      authorization: 'Bearer s3cret-token',
      'x-tenant': 'acme',
    });
    expect(receiver.stats.badSignatures).toBe(0);
  });

  it('pauses the sync when the receiver answers 410 Gone', async () => {
    const { receiver, client } = await setUp({});
    receiver.setFaults({ forKeys: { '1': 'gone' } });
    const result = await client.write([upsert('1', { n: 1 })], context());
    expect(result).toEqual({
      ok: false,
      failure: {
        kind: 'fatal',
        pauseSync: true,
        reason:
          'the receiver answered 410 Gone: it no longer accepts deliveries, so the sync is paused until it is re-enabled; HTTP 410: endpoint disabled',
      },
    });
  });

  it('retries a 429 after its Retry-After, and a timeout', async () => {
    const { receiver, client } = await setUp({ timeoutMs: 300 });
    receiver.setFaults({ forKeys: { '1': 'throttle', '2': 'timeout' }, retryAfterSeconds: 2 });
    expect(await client.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: false,
      failure: { kind: 'retry', reason: 'HTTP 429: slow down', waitMs: 2000 },
    });
    expect(await client.write([upsert('2', { n: 2 })], context())).toEqual({
      ok: false,
      failure: { kind: 'retry', reason: 'timeout: no response within 300 ms' },
    });
  });

  it('rejects a record refused with another 4xx, keeping the receiver text', async () => {
    const { receiver, client } = await setUp({});
    receiver.setFaults({ forKeys: { '2': { status: 422, body: '{"error":"plan must be pro or free"}' } } });
    const result = await client.write([upsert('1', { n: 1 }), upsert('2', { n: 2 })], context());
    expect(result).toEqual({
      ok: true,
      outcomes: [
        { key: '1', status: 'accepted' },
        { key: '2', status: 'rejected', reason: 'HTTP 422: {"error":"plan must be pro or free"}' },
      ],
    });
  });

  it('holds back the rest of a multi-record call after throttling', async () => {
    const { receiver, client } = await setUp({});
    receiver.setFaults({ forKeys: { '1': 'throttle' }, retryAfterSeconds: 3 });
    const result = await client.write([upsert('1', { n: 1 }), upsert('2', { n: 2 })], context());
    expect(result).toEqual({
      ok: true,
      outcomes: [
        { key: '1', status: 'retryable', reason: 'HTTP 429: slow down', waitMs: 3000 },
        { key: '2', status: 'retryable', reason: 'HTTP 429: slow down', waitMs: 3000 },
      ],
    });
    expect(receiver.requests).toHaveLength(1);
  });

  it('pings with a signed ebb.test event', async () => {
    const { receiver, client } = await setUp({});
    expect(await client.test(new AbortController().signal)).toEqual({
      ok: true,
      message: 'the endpoint answered HTTP 200',
    });
    expect(receiver.requests[0]?.json).toMatchObject({ type: 'ebb.test' });
    expect(receiver.stats.badSignatures).toBe(0);
  });

  it('refuses loopback unless private networks are allowed, naming the address', async () => {
    const { receiver } = await setUp({});
    const guarded = webhookConnector.create(
      webhookConnector.configSchema.parse({ url: `${receiver.url}/hooks`, signingSecret: secretA }),
      { ...deps, allowPrivateNetwork: false },
    );
    const reason =
      'refusing to connect to 127.0.0.1: a loopback address; private networks are not allowed (EBB_ALLOW_PRIVATE_NETWORK)';
    expect(await guarded.test(new AbortController().signal)).toEqual({ ok: false, message: reason });
    expect(await guarded.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: false,
      failure: { kind: 'fatal', reason },
    });
    expect(receiver.requests).toHaveLength(0);
    await guarded.close?.();
  });

  it('does not follow redirects', async () => {
    const { receiver, client } = await setUp({});
    receiver.setFaults({
      forKeys: { '1': { status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } } },
    });
    expect(await client.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: true,
      outcomes: [
        {
          key: '1',
          status: 'rejected',
          reason: 'HTTP 302: redirect to http://127.0.0.1:1/elsewhere not followed; update the URL',
        },
      ],
    });
    expect(receiver.requests).toHaveLength(1);
  });

  it('never sends a body over 1 MiB: a batch is split, a lone record rejected', async () => {
    const { receiver, client } = await setUp({ batchSize: 3 });
    const big = 'x'.repeat(600 * 1024);
    const split = await client.write([upsert('1', { big }), upsert('2', { big })], context());
    expect(split).toMatchObject({ ok: false, failure: { kind: 'split' } });
    const alone = await client.write([upsert('1', { big: big + big })], context());
    expect(alone).toEqual({
      ok: true,
      outcomes: [
        {
          key: '1',
          status: 'rejected',
          reason: expect.stringMatching(
            /^HTTP 413: the payload is \d+ bytes, over Ebb's limit of 1048576 for one request$/,
          ),
        },
      ],
    });
    expect(receiver.requests).toHaveLength(0);
  });

  it('stops retrying when the receiver answers webhook-delivery: abort-message', async () => {
    const { receiver, client } = await setUp({ method: 'PUT', template: { wrap: 'payload' } });
    receiver.setFaults({
      forKeys: {
        '1': { status: 503, body: 'poison message', headers: { 'webhook-delivery': 'abort-message' } },
      },
    });
    expect(await client.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: true,
      outcomes: [
        {
          key: '1',
          status: 'rejected',
          reason:
            'the receiver asked not to retry (webhook-delivery: abort-message); HTTP 503: poison message',
        },
      ],
    });
    expect(receiver.requests[0]).toMatchObject({ method: 'PUT', json: { key: '1', payload: { n: 1 } } });
  });
});
