import { describe, expect, it } from 'vitest';
import { httpConnector } from '../../../connectors/http/index.ts';
import { type BatchApiOptions, createBatchApiHandler } from '../../emulators/webhook/batch-api.ts';
import { startWebhookReceiver } from '../../emulators/webhook/server.ts';
import { cleanupPerTest } from '../../helpers/per-test.ts';
import { context, deps, remove, upsert } from '../webhook/helpers.ts';

const cleanup = cleanupPerTest();

async function setUp(api: BatchApiOptions, config: Record<string, unknown>) {
  const receiver = cleanup.own(
    await startWebhookReceiver({ handler: createBatchApiHandler(api), dedupe: false }),
  );
  const client = cleanup.own(
    httpConnector.create(
      httpConnector.configSchema.parse({ url: `${receiver.url}/v1/batch`, ...config }),
      deps,
    ),
  );
  return { receiver, client };
}

const results = {
  path: 'results',
  keyField: 'id',
  statusField: 'status',
  errorField: 'error',
  idField: 'recordId',
};

describe('batch HTTP connector against a batch API', () => {
  it('sends records in one request and matches per-record results by key, not position', async () => {
    const { receiver, client } = await setUp(
      { resultsKey: 'results', failKeys: { '2': 'email is not valid' }, requireAuthorization: 'Bearer k' },
      { authorization: 'Bearer k', results },
    );
    const result = await client.write(
      [
        upsert('1', { email: 'a@x.test' }),
        upsert('2', { email: 'nope' }),
        upsert('3', { email: 'c@x.test' }),
      ],
      context(),
    );
    expect(result).toEqual({
      ok: true,
      outcomes: [
        { key: '1', status: 'accepted', destinationRecordId: 'rec_1' },
        { key: '2', status: 'rejected', reason: 'email is not valid' },
        { key: '3', status: 'accepted', destinationRecordId: 'rec_3' },
      ],
    });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]?.json).toEqual({
      records: [
        { id: '1', operation: 'upsert', email: 'a@x.test' },
        { id: '2', operation: 'upsert', email: 'nope' },
        { id: '3', operation: 'upsert', email: 'c@x.test' },
      ],
    });
    await client.write([remove('1')], context());
    expect(Object.fromEntries(receiver.state)).toEqual({ '3': { email: 'c@x.test' } });
  });

  it('accepts the whole batch on a 2xx when no results are configured, as a bare array', async () => {
    const { receiver, client } = await setUp(
      { recordsKey: null, keyField: 'userId' },
      {
        body: 'array',
        record: { keyField: 'userId', operationField: null, wrap: 'traits' },
      },
    );
    const result = await client.write(
      [upsert('u1', { plan: 'pro' }), upsert('u2', { plan: 'free' })],
      context(),
    );
    expect(result.ok && result.outcomes.map((o) => o.status)).toEqual(['accepted', 'accepted']);
    expect(receiver.requests[0]?.json).toEqual([
      { userId: 'u1', traits: { plan: 'pro' } },
      { userId: 'u2', traits: { plan: 'free' } },
    ]);
  });

  it('asks the engine to split a batch refused with 400, then rejects the bad record alone', async () => {
    const { client } = await setUp({ resultsKey: 'results', invalidKeys: ['2'] }, { results });
    const batch = [upsert('1', { n: 1 }), upsert('2', { n: 2 })];
    expect(await client.write(batch, context())).toEqual({
      ok: false,
      failure: { kind: 'split', reason: 'HTTP 400: {"error":"invalid records: 2"}' },
    });
    expect(await client.write(batch.slice(1), context())).toEqual({
      ok: true,
      outcomes: [{ key: '2', status: 'rejected', reason: 'HTTP 400: {"error":"invalid records: 2"}' }],
    });
    expect(await client.write(batch.slice(0, 1), context())).toMatchObject({
      ok: true,
      outcomes: [{ key: '1', status: 'accepted' }],
    });
  });

  it('splits before sending when the body is over the byte limit', async () => {
    const { receiver, client } = await setUp({}, { maxBatchBytes: 1024 });
    const big = 'x'.repeat(700);
    expect(await client.write([upsert('1', { big }), upsert('2', { big })], context())).toEqual({
      ok: false,
      failure: {
        kind: 'split',
        reason: expect.stringMatching(/^the request is \d+ bytes, over this destination's limit of 1024$/),
      },
    });
    expect(receiver.requests).toHaveLength(0);
  });

  it('retries a 429 after Retry-After and stops on refused credentials', async () => {
    const { receiver, client } = await setUp(
      { requireAuthorization: 'Bearer right' },
      { authorization: 'Bearer wrong' },
    );
    receiver.setFaults({ forKeys: { '1': 'throttle' }, retryAfterSeconds: 5 });
    expect(await client.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: false,
      failure: { kind: 'retry', reason: 'HTTP 429: slow down', waitMs: 5000 },
    });
    expect(await client.write([upsert('2', { n: 2 })], context())).toEqual({
      ok: false,
      failure: { kind: 'fatal', reason: 'HTTP 401: {"error":"invalid api key"}' },
    });
  });

  it('tests the connection with a HEAD and refuses private addresses unless allowed', async () => {
    const { receiver, client } = await setUp({}, {});
    expect(await client.test(new AbortController().signal)).toEqual({
      ok: true,
      message: 'reached the API (HTTP 400)',
    });
    const guarded = httpConnector.create(
      httpConnector.configSchema.parse({ url: `${receiver.url}/v1/batch` }),
      {
        ...deps,
        allowPrivateNetwork: false,
      },
    );
    expect(await guarded.write([upsert('1', { n: 1 })], context())).toEqual({
      ok: false,
      failure: {
        kind: 'fatal',
        reason:
          'refusing to connect to 127.0.0.1: a loopback address; private networks are not allowed (EBB_ALLOW_PRIVATE_NETWORK)',
      },
    });
    await guarded.close?.();
  });
});
