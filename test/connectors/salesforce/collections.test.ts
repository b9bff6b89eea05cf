import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DestinationClient } from '../../../connectors/types.ts';
import { type SalesforceEmulator, startSalesforceEmulator } from '../../emulators/salesforce/server.ts';
import { change, clientFor, context, outcomesOf } from './helpers.ts';

let sf: SalesforceEmulator;
let client: DestinationClient;

beforeEach(async () => {
  sf = await startSalesforceEmulator();
  client = clientFor(sf);
});
afterEach(async () => {
  await sf.close();
});

const contacts = () =>
  sf
    .records('Contact')
    .map(({ Id, ...rest }) => rest)
    .sort((a, b) => String(a.Ext_Id__c).localeCompare(String(b.Ext_Id__c)));

describe('Salesforce sObject Collections through jsforce', () => {
  it('upserts by external id, isolating per-record errors with their status code', async () => {
    const result = await client.write(
      [
        change('c1', 'upsert', { LastName: 'Lovelace', Email: 'ada@example.com' }),
        change('c2', 'upsert', { FirstName: 'No', Email: 'no-last@example.com' }),
        change('c3', 'upsert', { LastName: 'Hopper', Email: 'not-an-email' }),
        change('c4', 'upsert', { LastName: 'Turing', Email: null }),
      ],
      context('Contact', 'upsert', 'Ext_Id__c'),
    );
    const outcomes = outcomesOf(result);
    expect(outcomes.get('c1')).toMatchObject({
      status: 'accepted',
      destinationRecordId: expect.stringMatching(/^003/),
    });
    expect(outcomes.get('c2')).toEqual({
      key: 'c2',
      status: 'rejected',
      reason: 'REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] [LastName]',
    });
    expect(outcomes.get('c3')).toEqual({
      key: 'c3',
      status: 'rejected',
      reason: 'INVALID_EMAIL_ADDRESS: Email: invalid email address: not-an-email [Email]',
    });
    expect(outcomes.get('c4')?.status).toBe('accepted');
    expect(contacts()).toEqual([
      { Ext_Id__c: 'c1', LastName: 'Lovelace', Email: 'ada@example.com' },
      { Ext_Id__c: 'c4', LastName: 'Turing' },
    ]);

    // The same key again updates the record it created: no second Contact for one primary key.
    const again = await client.write(
      [change('c1', 'upsert', { LastName: 'King', Email: null })],
      context('Contact', 'upsert', 'Ext_Id__c'),
    );
    expect(outcomesOf(again).get('c1')).toEqual(outcomes.get('c1'));
    expect(contacts()).toEqual([
      { Ext_Id__c: 'c1', LastName: 'King' },
      { Ext_Id__c: 'c4', LastName: 'Turing' },
    ]);
  });

  it('sends more than 200 records as several collection calls of at most 200', async () => {
    const batch = Array.from({ length: 450 }, (_, i) =>
      change(`k${String(i).padStart(3, '0')}`, 'upsert', { Name: `A ${i}` }),
    );
    const client = clientFor(sf, { bulkThreshold: 1000 });
    const outcomes = outcomesOf(await client.write(batch, context('Account', 'upsert', 'Ext_Id__c')));
    expect([...outcomes.values()].filter((o) => o.status === 'accepted')).toHaveLength(450);
    expect(sf.records('Account')).toHaveLength(450);
    expect(
      sf.requests.filter((r) => r === 'PATCH /services/data/v62.0/composite/sobjects/Account/Ext_Id__c'),
    ).toHaveLength(3);
  });

  it('inserts, updates by Id or by external id, and deletes, one outcome per key', async () => {
    const inserted = outcomesOf(
      await client.write(
        [
          change('a', 'insert', { Name: 'Alpha' }),
          change('b', 'insert', { Name: 'Beta' }),
          change('x', 'insert', { Industry: 'None' }),
        ],
        context('Account', 'insert', 'Ext_Id__c'),
      ),
    );
    expect(inserted.get('x')).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('REQUIRED_FIELD_MISSING'),
    });
    const idOf = (key: string) => {
      const o = inserted.get(key);
      if (o?.status !== 'accepted' || !o.destinationRecordId) throw new Error(`${key} was not inserted`);
      return o.destinationRecordId;
    };

    const updated = outcomesOf(
      await client.write(
        [
          change('a', 'update', { Industry: 'Energy' }, { destinationRecordId: idOf('a') }),
          change('b', 'update', { Industry: 'Retail' }, { identifier: 'b' }),
          change('zz', 'update', { Industry: 'Nowhere' }, { identifier: 'zz' }),
          change('gone', 'update', { Industry: 'X' }, { identifier: null }),
        ],
        context('Account', 'update', 'Ext_Id__c'),
      ),
    );
    expect(updated.get('a')).toEqual({ key: 'a', status: 'accepted', destinationRecordId: idOf('a') });
    expect(updated.get('b')).toEqual({ key: 'b', status: 'accepted', destinationRecordId: idOf('b') });
    expect(updated.get('zz')).toEqual({
      key: 'zz',
      status: 'rejected',
      reason: 'not found: no Account with Ext_Id__c = zz',
    });
    expect(updated.get('gone')).toEqual({
      key: 'gone',
      status: 'rejected',
      reason: 'no Salesforce Id or Ext_Id__c value to update by',
    });
    expect(
      sf
        .records('Account')
        .map((r) => [r.Ext_Id__c, r.Industry])
        .sort(),
    ).toEqual([
      ['a', 'Energy'],
      ['b', 'Retail'],
    ]);

    const deletes = [
      change('a', 'delete', {}, { destinationRecordId: idOf('a') }),
      change('b', 'delete', {}, { identifier: 'b' }),
    ];
    const deleted = outcomesOf(await client.write(deletes, context('Account', 'mirror', 'Ext_Id__c')));
    expect([...deleted.values()].map((o) => o.status)).toEqual(['accepted', 'accepted']);
    expect(sf.records('Account')).toEqual([]);
    // A resumed run re-sends deletes it sent before a crash: already gone counts as done.
    const again = outcomesOf(await client.write(deletes, context('Account', 'mirror', 'Ext_Id__c')));
    expect([...again.values()].map((o) => o.status)).toEqual(['accepted', 'accepted']);
  });

  it('reports a field the object does not have as a fatal batch failure', async () => {
    const result = await client.write(
      [change('c1', 'upsert', { LastName: 'A', Nope__c: 'x' })],
      context('Contact', 'upsert', 'Ext_Id__c'),
    );
    expect(result).toEqual({
      ok: false,
      failure: {
        kind: 'fatal',
        reason: "INVALID_FIELD: No such column 'Nope__c' on sobject of type Contact",
      },
    });
  });

  it('rejects records it cannot send without calling Salesforce', async () => {
    const outcomes = outcomesOf(
      await client.write(
        [
          change('c1', 'upsert', { LastName: 'A' }, { identifier: null }),
          change('c2', 'upsert', { 'bad name': 'x' }),
        ],
        context('Contact', 'upsert', 'Ext_Id__c'),
      ),
    );
    expect(outcomes.get('c1')).toEqual({ key: 'c1', status: 'rejected', reason: 'no value for Ext_Id__c' });
    expect(outcomes.get('c2')).toEqual({
      key: 'c2',
      status: 'rejected',
      reason: '"bad name" is not a Salesforce field API name',
    });
    expect(sf.requests).toEqual([]);
  });

  it('tests the connection and lists objects with their fields', async () => {
    expect(await client.test(new AbortController().signal)).toEqual({
      ok: true,
      message: 'connected; API usage 1/100000',
    });
    const objects = await client.listObjects?.(new AbortController().signal);
    const contact = objects?.find((o) => o.name === 'Contact');
    expect(contact?.fields?.find((f) => f.name === 'Ext_Id__c')).toMatchObject({
      unique: true,
      type: 'string',
    });
    expect(contact?.fields?.find((f) => f.name === 'LastName')).toMatchObject({
      required: true,
      unique: false,
    });
    const bad = clientFor(sf, {
      accessToken: 'wrong',
      refreshToken: undefined,
      clientId: undefined,
      clientSecret: undefined,
    });
    expect(await bad.test(new AbortController().signal)).toEqual({
      ok: false,
      message: 'INVALID_SESSION_ID: Session expired or invalid',
    });
  });
});
