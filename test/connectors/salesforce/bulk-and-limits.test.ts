import { afterEach, describe, expect, it } from 'vitest';
import { type SalesforceEmulator, startSalesforceEmulator } from '../../emulators/salesforce/server.ts';
import { change, clientFor, context, outcomesOf } from './helpers.ts';

let sf: SalesforceEmulator | undefined;
afterEach(async () => {
  await sf?.close();
  sf = undefined;
});

async function emulator(
  options: Parameters<typeof startSalesforceEmulator>[0] = {},
): Promise<SalesforceEmulator> {
  sf = await startSalesforceEmulator(options);
  return sf;
}

const jobPaths = (sf: SalesforceEmulator) => sf.requests.filter((r) => r.includes('/jobs/ingest'));

describe('Salesforce Bulk API 2.0', () => {
  it('sends a batch at the threshold as one job and maps shuffled results back by external id', async () => {
    const sf = await emulator();
    const client = clientFor(sf, { bulkThreshold: 100 });
    const batch = Array.from({ length: 150 }, (_, i) =>
      change(`p${i}`, 'upsert', {
        LastName: i % 50 === 7 ? null : `Person, "${i}"`,
        Email: i % 50 === 9 ? 'broken' : `p${i}@example.com`,
      }),
    );
    const outcomes = outcomesOf(await client.write(batch, context('Contact', 'upsert', 'Ext_Id__c')));
    expect(sf.requests.filter((r) => r.includes('composite'))).toEqual([]);
    expect(jobPaths(sf).filter((r) => r.startsWith('PUT'))).toHaveLength(1);

    const contacts = new Map(sf.records('Contact').map((r) => [String(r.Ext_Id__c), r]));
    for (let i = 0; i < 150; i++) {
      const outcome = outcomes.get(`p${i}`);
      if (i % 50 === 7) {
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: expect.stringMatching(/^REQUIRED_FIELD_MISSING:/),
        });
      } else if (i % 50 === 9) {
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: expect.stringMatching(/^INVALID_EMAIL_ADDRESS:/),
        });
      } else {
        expect(outcome).toEqual({
          key: `p${i}`,
          status: 'accepted',
          destinationRecordId: contacts.get(`p${i}`)?.Id,
        });
        expect(contacts.get(`p${i}`)).toMatchObject({
          LastName: `Person, "${i}"`,
          Email: `p${i}@example.com`,
        });
      }
    }
    expect(contacts.size).toBe(144);

    // Deletes above the threshold are a job too, matched back by Id.
    const ids = [...contacts.values()].map((r) => String(r.Id));
    const deletes = ids.map((id, i) => change(`d${i}`, 'delete', {}, { destinationRecordId: id }));
    const deleted = outcomesOf(await client.write(deletes, context('Contact', 'mirror', 'Ext_Id__c')));
    expect([...deleted.values()].every((o) => o.status === 'accepted')).toBe(true);
    expect(sf.records('Contact')).toEqual([]);
  });

  it('refreshes the session before a job, so an expired token never reaches the CSV upload', async () => {
    const sf = await emulator();
    const client = clientFor(sf, { bulkThreshold: 2 });
    sf.expireTokens();
    const outcomes = outcomesOf(
      await client.write(
        [change('a', 'upsert', { Name: 'A' }), change('b', 'upsert', { Name: 'B' })],
        context('Account', 'upsert', 'Ext_Id__c'),
      ),
    );
    expect([...outcomes.values()].map((o) => o.status)).toEqual(['accepted', 'accepted']);
    expect(sf.refreshCount()).toBe(1);
    expect(sf.requests.some((r) => r.startsWith('PUT') && r.endsWith('/batches'))).toBe(true);
  });

  it('splits a job the org fails as a whole', async () => {
    const sf = await emulator();
    const client = clientFor(sf, { bulkThreshold: 2 });
    const result = await client.write(
      [change('a', 'upsert', { Name: 'A', Nope__c: '1' }), change('b', 'upsert', { Name: 'B' })],
      context('Account', 'upsert', 'Ext_Id__c'),
    );
    expect(result).toEqual({
      ok: false,
      failure: {
        kind: 'split',
        reason: 'Ingest job failed to complete due to: InvalidBatch : Field name not found : Nope__c',
      },
    });
  });
});

describe('Salesforce sessions, limits and faults', () => {
  it('refreshes an expired session through the OAuth refresh token and replays the write', async () => {
    const sf = await emulator();
    const client = clientFor(sf);
    sf.expireTokens();
    const outcomes = outcomesOf(
      await client.write([change('a', 'upsert', { Name: 'A' })], context('Account', 'upsert', 'Ext_Id__c')),
    );
    expect(outcomes.get('a')?.status).toBe('accepted');
    expect(sf.refreshCount()).toBe(1);
    expect(sf.records('Account')).toHaveLength(1);
  });

  it('fails fatally when the session expired and cannot be refreshed', async () => {
    const sf = await emulator();
    const client = clientFor(sf, { clientSecret: 'not-the-secret' });
    sf.expireTokens();
    const result = await client.write(
      [change('a', 'upsert', { Name: 'A' })],
      context('Account', 'upsert', 'Ext_Id__c'),
    );
    expect(result).toEqual({
      ok: false,
      failure: { kind: 'fatal', reason: 'Unable to refresh session due to: expired access/refresh token' },
    });
    expect(sf.records('Account')).toEqual([]);
  });

  it('reports REQUEST_LIMIT_EXCEEDED as quota', async () => {
    const sf = await emulator({ dailyApiLimit: 1000 });
    sf.setApiUsage(1000);
    const result = await clientFor(sf).write(
      [change('a', 'upsert', { Name: 'A' })],
      context('Account', 'upsert', 'Ext_Id__c'),
    );
    expect(result).toEqual({
      ok: false,
      failure: { kind: 'quota', reason: 'REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.' },
    });
  });

  it('stops at the configured daily budget before sending, from Sforce-Limit-Info', async () => {
    const sf = await emulator({ dailyApiLimit: 1000 });
    const client = clientFor(sf, { dailyApiBudget: 500 });
    sf.setApiUsage(497);
    // One GET /limits to learn usage (498), then one collection call (499): within budget.
    const first = await client.write(
      [change('a', 'upsert', { Name: 'A' })],
      context('Account', 'upsert', 'Ext_Id__c'),
    );
    expect(first.ok).toBe(true);
    const second = await client.write(
      [change('b', 'upsert', { Name: 'B' })],
      context('Account', 'upsert', 'Ext_Id__c'),
    );
    expect(second.ok).toBe(true);
    const third = await client.write(
      [change('c', 'upsert', { Name: 'C' })],
      context('Account', 'upsert', 'Ext_Id__c'),
    );
    expect(third).toEqual({
      ok: false,
      failure: {
        kind: 'quota',
        reason:
          'Salesforce API budget reached: 500 of 500 daily requests used (org allocation 1000); 1 more needed',
      },
    });
    expect(
      sf
        .records('Account')
        .map((r) => r.Ext_Id__c)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(sf.apiUsage().used).toBe(500);
  });

  it('returns retry for a 5xx and for a request that never answers', async () => {
    const sf = await emulator({ faults: { serverErrorRate: 1 } });
    const client = clientFor(sf, { requestTimeoutMs: 300 });
    const batch = [change('a', 'upsert', { Name: 'A' })];
    expect(await client.write(batch, context('Account', 'upsert', 'Ext_Id__c'))).toEqual({
      ok: false,
      failure: { kind: 'retry', reason: 'SERVER_UNAVAILABLE: Server temporarily unavailable' },
    });
    sf.setFaults({ timeoutRate: 1, hangMs: 5000 });
    expect(await client.write(batch, context('Account', 'upsert', 'Ext_Id__c'))).toEqual({
      ok: false,
      failure: { kind: 'retry', reason: 'SalesforceTimeoutError: no response within 300 ms' },
    });
    // The emulator applied the write whose answer was lost; the retry upserts the same record.
    sf.setFaults({});
    expect((await client.write(batch, context('Account', 'upsert', 'Ext_Id__c'))).ok).toBe(true);
    expect(sf.records('Account')).toHaveLength(1);
  });

  it('marks row-lock errors retryable rather than rejected', async () => {
    const sf = await emulator({ faults: { recordErrorRate: 1 } });
    const outcomes = outcomesOf(
      await clientFor(sf).write(
        [change('a', 'upsert', { Name: 'A' })],
        context('Account', 'upsert', 'Ext_Id__c'),
      ),
    );
    expect(outcomes.get('a')).toEqual({
      key: 'a',
      status: 'retryable',
      reason: 'UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record',
    });
  });

  it('accepts a re-sent insert whose first answer was lost, without a second record', async () => {
    const sf = await emulator({ faults: { timeoutRate: 1, hangMs: 5000 } });
    for (const bulkThreshold of [1000, 1]) {
      const client = clientFor(sf, { requestTimeoutMs: 300, bulkThreshold });
      const key = `k${bulkThreshold}`;
      const batch = [change(key, 'insert', { Name: 'Once' })];
      sf.setFaults({ timeoutRate: 1, hangMs: 5000 });
      const lost = await client.write(batch, context('Account', 'insert', 'Ext_Id__c'));
      expect(lost.ok ? 'ok' : lost.failure.kind).toBe('retry');
      sf.setFaults({});
      const again = outcomesOf(await client.write(batch, context('Account', 'insert', 'Ext_Id__c')));
      const created = sf.records('Account').filter((r) => r.Ext_Id__c === key);
      expect(created).toHaveLength(1);
      expect(again.get(key)).toEqual({ key, status: 'accepted', destinationRecordId: created[0]?.Id });
    }
  });

  it('keeps accepted outcomes when a later call of the same batch fails', async () => {
    const sf = await emulator({ dailyApiLimit: 1 });
    const batch = Array.from({ length: 201 }, (_, i) => change(`k${i}`, 'upsert', { Name: `A ${i}` }));
    const outcomes = outcomesOf(
      await clientFor(sf, { bulkThreshold: 1000 }).write(batch, context('Account', 'upsert', 'Ext_Id__c')),
    );
    expect([...outcomes.values()].filter((o) => o.status === 'accepted')).toHaveLength(200);
    expect(outcomes.get('k200')).toEqual({
      key: 'k200',
      status: 'retryable',
      reason: 'REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.',
      waitMs: undefined,
    });
  });
});
