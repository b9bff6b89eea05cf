import { afterEach, describe, expect, it } from 'vitest';
import type { DestinationClient, RecordOutcome, WriteResult } from '../../../connectors/types.ts';
import { type HubspotEmulator, startHubspotEmulator } from '../../emulators/hubspot/server.ts';
import { change, contact, context, hubspotClient } from './helpers.ts';

let emulator: HubspotEmulator | undefined;
let client: DestinationClient | undefined;
afterEach(async () => {
  await client?.close?.();
  await emulator?.close();
  client = undefined;
  emulator = undefined;
});

async function setup(options: Parameters<typeof startHubspotEmulator>[0] = {}) {
  const started = await startHubspotEmulator({ seed: 7, ...options });
  emulator = started;
  client = hubspotClient(started);
  return { emulator: started, client };
}

function outcomes(result: WriteResult): Map<string, RecordOutcome> {
  if (!result.ok) throw new Error(`batch failed: ${result.failure.kind} ${result.failure.reason}`);
  return new Map(result.outcomes.map((o) => [o.key, o]));
}

function recordId(outcome: RecordOutcome | undefined): string {
  if (outcome?.status !== 'accepted' || !outcome.destinationRecordId) throw new Error('not accepted');
  return outcome.destinationRecordId;
}

describe('HubSpot connector against the emulator, through @hubspot/api-client', () => {
  it('upserts by email: creates, then updates the same records, matching shuffled results by email', async () => {
    const { emulator, client } = await setup();
    const batch = Array.from({ length: 60 }, (_, i) => change(`pk${i}`, 'upsert', contact(i)));
    const first = outcomes(await client.write(batch, context('upsert')));
    const records = emulator.recordsBy('contacts', 'email');
    expect(records.size).toBe(60);
    for (let i = 0; i < 60; i++) {
      // Each key got the id of the record holding its own email, although results came back shuffled.
      expect(first.get(`pk${i}`)).toEqual({
        key: `pk${i}`,
        status: 'accepted',
        destinationRecordId: records.get(`user${i}@example.com`)?.hs_object_id,
      });
    }
    const changed = batch.map((c, i) => ({ ...c, fields: contact(i, { firstname: `Renamed${i}` }) }));
    outcomes(await client.write(changed, context('upsert')));
    const after = emulator.recordsBy('contacts', 'email');
    expect(after.size).toBe(60);
    expect(after.get('user7@example.com')).toMatchObject({ firstname: 'Renamed7', lastname: 'Last7' });
  });

  it('isolates exactly the bad records of a 207, with HubSpot’s message', async () => {
    const { emulator, client } = await setup({
      rejectWhen: (_type, properties) =>
        properties.lastname === 'Forbidden' ? 'Property values were not valid: lastname is forbidden' : null,
    });
    const batch = Array.from({ length: 10 }, (_, i) => change(`pk${i}`, 'upsert', contact(i)));
    batch[3] = change('pk3', 'upsert', contact(3), { identifier: 'not-an-email' });
    batch[6] = change('pk6', 'upsert', contact(6, { lastname: 'Forbidden' }));
    const result = outcomes(await client.write(batch, context('upsert')));
    expect(result.get('pk3')).toEqual({
      key: 'pk3',
      status: 'rejected',
      reason:
        'Property values were not valid: [{"isValid":false,"message":"Email address not-an-email is invalid","error":"INVALID_EMAIL","name":"email"}]',
    });
    expect(result.get('pk6')).toEqual({
      key: 'pk6',
      status: 'rejected',
      reason: 'Property values were not valid: lastname is forbidden',
    });
    const accepted = [...result.values()].filter((o) => o.status === 'accepted').map((o) => o.key);
    expect(accepted.sort()).toEqual(['pk0', 'pk1', 'pk2', 'pk4', 'pk5', 'pk7', 'pk8', 'pk9']);
    expect(emulator.recordsBy('contacts', 'email').size).toBe(8);
  });

  it('updates by record id or by email, and rejects a record that does not exist as not found', async () => {
    const { emulator, client } = await setup();
    const created = outcomes(
      await client.write(
        [change('a', 'upsert', contact(1)), change('b', 'upsert', contact(2))],
        context('upsert'),
      ),
    );
    const idOfA = recordId(created.get('a'));
    const result = outcomes(
      await client.write(
        [
          change('a', 'update', { firstname: 'ById' }, { identifier: null, destinationRecordId: idOfA }),
          change('b', 'update', contact(2, { firstname: 'ByEmail' })),
          change('c', 'update', contact(3)),
        ],
        context('update'),
      ),
    );
    expect(result.get('a')).toMatchObject({ status: 'accepted', destinationRecordId: idOfA });
    expect(result.get('b')).toMatchObject({ status: 'accepted' });
    expect(result.get('c')).toEqual({
      key: 'c',
      status: 'rejected',
      reason: 'Object not found.  objectId are usually numeric.',
    });
    const records = emulator.recordsBy('contacts', 'email');
    expect(records.get('user1@example.com')?.firstname).toBe('ById');
    expect(records.get('user2@example.com')?.firstname).toBe('ByEmail');
    expect(records.size).toBe(2);
  });

  it('inserts with a trace id per input, so one bad input fails alone (207) and results match by trace id', async () => {
    const { emulator, client } = await setup();
    const batch = Array.from({ length: 5 }, (_, i) => change(`pk${i}`, 'insert', contact(i)));
    batch[2] = change('pk2', 'insert', contact(2, { email: 'broken@' }));
    const result = outcomes(await client.write(batch, context('insert', null)));
    expect(result.get('pk2')).toMatchObject({ status: 'rejected' });
    expect((result.get('pk2') as { reason: string }).reason).toContain('Email address broken@ is invalid');
    const records = emulator.recordsBy('contacts', 'email');
    for (const i of [0, 1, 3, 4]) {
      expect(result.get(`pk${i}`)).toEqual({
        key: `pk${i}`,
        status: 'accepted',
        destinationRecordId: records.get(`user${i}@example.com`)?.hs_object_id,
      });
    }
    expect(records.size).toBe(4);
  });

  it('mirrors removals by archive: by record id, by email (read first), and an absent record counts as removed', async () => {
    const { emulator, client } = await setup();
    const created = outcomes(
      await client.write(
        [0, 1, 2].map((i) => change(`pk${i}`, 'upsert', contact(i))),
        context('mirror'),
      ),
    );
    const id0 = recordId(created.get('pk0'));
    const result = outcomes(
      await client.write(
        [
          change('pk0', 'delete', {}, { identifier: 'user0@example.com', destinationRecordId: id0 }),
          change('pk1', 'delete', {}, { identifier: 'USER1@example.com' }),
          change('pk9', 'delete', {}, { identifier: 'gone@example.com' }),
        ],
        context('mirror'),
      ),
    );
    expect(result.get('pk0')).toEqual({ key: 'pk0', status: 'accepted', destinationRecordId: id0 });
    expect(result.get('pk1')).toMatchObject({ status: 'accepted' });
    expect(result.get('pk9')).toEqual({ key: 'pk9', status: 'accepted', destinationRecordId: null });
    expect([...emulator.recordsBy('contacts', 'email').keys()]).toEqual(['user2@example.com']);
    expect(emulator.stats.batchCalls).toMatchObject({ 'contacts/read': 1, 'contacts/archive': 1 });
  });

  it('answers a 429 with retry after the interval HubSpot names, and a DAILY 429 with quota', async () => {
    const { emulator, client } = await setup({ rateLimit: { max: 1, intervalMs: 60_000 } });
    outcomes(await client.write([change('a', 'upsert', contact(1))], context('upsert')));
    expect(await client.write([change('b', 'upsert', contact(2))], context('upsert'))).toEqual({
      ok: false,
      failure: {
        kind: 'retry',
        reason: 'HubSpot 429: You have reached your ten_secondly_rolling limit.',
        waitMs: 60_000,
      },
    });
    emulator.options.rateLimit = null;
    emulator.options.dailyLimit = 1;
    expect(await client.write([change('b', 'upsert', contact(2))], context('upsert'))).toEqual({
      ok: false,
      failure: { kind: 'quota', reason: 'HubSpot 429: You have reached your daily limit.' },
    });
    expect(emulator.recordsBy('contacts', 'email').size).toBe(1);
  });

  it('fails fatally on a wrong token, and test() says why', async () => {
    const { emulator } = await setup();
    const wrong = hubspotClient(emulator, { accessToken: 'wrong-token' });
    expect(await wrong.write([change('a', 'upsert', contact(1))], context('upsert'))).toEqual({
      ok: false,
      failure: {
        kind: 'fatal',
        reason:
          'HubSpot 401 INVALID_AUTHENTICATION: Authentication credentials not found. (check the access token)',
      },
    });
    expect(await wrong.test(new AbortController().signal)).toEqual({
      ok: false,
      message:
        'HubSpot 401 INVALID_AUTHENTICATION: Authentication credentials not found. (check the access token)',
    });
    await wrong.close?.();
    expect(await client?.test(new AbortController().signal)).toEqual({
      ok: true,
      message: 'HubSpot accepted the access token.',
    });
  });

  it('retries 5xx, splits a batch HubSpot refuses whole, and times out a request that never answers', async () => {
    const { emulator, client } = await setup({
      faults: { rate429: 0, rate5xx: 1, rateTimeout: 0, applyBeforeTimeout: true },
    });
    const result = await client.write([change('a', 'upsert', contact(1))], context('upsert'));
    expect(result).toMatchObject({ ok: false, failure: { kind: 'retry' } });

    emulator.options.faults.rate5xx = 0;
    const duplicate = [change('a', 'upsert', contact(1)), change('b', 'upsert', contact(1))];
    expect(await client.write(duplicate, context('upsert'))).toEqual({
      ok: false,
      failure: {
        kind: 'split',
        reason: 'HubSpot 400 VALIDATION_ERROR: Duplicate IDs found in batch input: [user1@example.com]',
      },
    });

    emulator.options.faults.rateTimeout = 1;
    const quick = hubspotClient(emulator, { requestTimeoutMs: 300 });
    const timedOut = await quick.write([change('c', 'upsert', contact(3))], context('upsert'));
    expect(timedOut).toMatchObject({ ok: false, failure: { kind: 'retry' } });
    expect(!timedOut.ok && timedOut.failure.reason).toContain('no response from HubSpot within 300 ms');
    // The lost response's write did land; sending it again is an idempotent upsert, not a duplicate.
    emulator.options.faults.rateTimeout = 0;
    outcomes(await quick.write([change('c', 'upsert', contact(3))], context('upsert')));
    expect(emulator.recordsBy('contacts', 'email').size).toBe(1);
    await quick.close?.();
  });

  it('gives up a connection test when its signal aborts, instead of waiting on HubSpot', async () => {
    const { emulator } = await setup({
      faults: { rate429: 0, rate5xx: 0, rateTimeout: 1, applyBeforeTimeout: false },
    });
    const slow = hubspotClient(emulator, { requestTimeoutMs: 60_000 });
    const started = Date.now();
    expect(await slow.test(AbortSignal.timeout(200))).toEqual({
      ok: false,
      message: 'HubSpot did not answer in time',
    });
    expect(Date.now() - started).toBeLessThan(5000);
    await slow.close?.();
  });

  it('sends 150 records as two calls of at most 100 inputs', async () => {
    const { emulator, client } = await setup();
    const batch = Array.from({ length: 150 }, (_, i) => change(`pk${i}`, 'upsert', contact(i)));
    const result = outcomes(await client.write(batch, context('upsert')));
    expect([...result.values()].every((o) => o.status === 'accepted')).toBe(true);
    expect(emulator.stats.batchCalls['contacts/upsert']).toBe(2);
  });
});
