import { Connection } from 'jsforce';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SalesforceEmulator, startSalesforceEmulator } from './server.ts';

/** The emulator's wire behaviour, checked through raw HTTP and through jsforce itself. */

let sf: SalesforceEmulator;
let conn: Connection;

beforeEach(async () => {
  sf = await startSalesforceEmulator();
  conn = new Connection({ instanceUrl: sf.url, accessToken: sf.accessToken, version: '62.0' });
});
afterEach(async () => {
  await sf.close();
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${sf.url}/services/data/v62.0${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${sf.accessToken}`,
      'content-type': 'application/json',
      ...init.headers,
    },
  });

describe('Salesforce emulator', () => {
  it('sends Sforce-Limit-Info on every REST response and 401 INVALID_SESSION_ID for a bad token', async () => {
    const ok = await api('/limits');
    expect(ok.headers.get('sforce-limit-info')).toBe('api-usage=1/100000');
    const denied = await fetch(`${sf.url}/services/data/v62.0/limits`, {
      headers: { authorization: 'Bearer x' },
    });
    expect(denied.status).toBe(401);
    expect(await denied.json()).toEqual([
      { message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' },
    ]);
    expect(denied.headers.get('sforce-limit-info')).toBe('api-usage=1/100000');
  });

  it('refreshes tokens with an id and its own instance_url', async () => {
    const response = await fetch(`${sf.url}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: sf.refreshToken,
        client_id: sf.clientId,
        client_secret: sf.clientSecret,
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toMatchObject({
      instance_url: sf.url,
      id: `${sf.url}/id/00D000000000001AAA/005000000000001AAA`,
    });
    expect((await api('/limits', { headers: { authorization: `Bearer ${body.access_token}` } })).status).toBe(
      200,
    );
  });

  it('answers 403 REQUEST_LIMIT_EXCEEDED once the daily allocation is used', async () => {
    sf.setApiUsage(100_000);
    const response = await api('/limits');
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual([
      { message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' },
    ]);
  });

  it('rolls back every record of an allOrNone request when one fails', async () => {
    const results = await conn
      .sobject('Account')
      .create([{ Name: 'Good' }, { Industry: 'No name' }], { allOrNone: true });
    expect(
      results.map((r) => (r.success ? 'ok' : (r.errors[0] as unknown as { statusCode: string }).statusCode)),
    ).toEqual(['ALL_OR_NONE_OPERATION_ROLLED_BACK', 'REQUIRED_FIELD_MISSING']);
    expect(sf.records('Account')).toEqual([]);
  });

  it('reports created on upsert and refuses more than 200 records', async () => {
    const first = await conn.sobject('Account').upsert([{ Ext_Id__c: 'e1', Name: 'A' }], 'Ext_Id__c');
    const second = await conn.sobject('Account').upsert([{ Ext_Id__c: 'E1', Name: 'B' }], 'Ext_Id__c');
    expect([first[0]?.created, second[0]?.created]).toEqual([true, false]);
    // Matched case-insensitively; the body's value is written like any other field.
    expect(sf.records('Account')).toMatchObject([{ Ext_Id__c: 'E1', Name: 'B' }]);
    const records = Array.from({ length: 201 }, (_, i) => ({
      attributes: { type: 'Account' },
      Name: `A${i}`,
    }));
    const tooMany = await api('/composite/sobjects', {
      method: 'POST',
      body: JSON.stringify({ allOrNone: false, records }),
    });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { errorCode: string }[])[0]?.errorCode).toBe('EXCEEDED_ID_LIMIT');
  });

  it('runs a Bulk 2.0 job from a chunked CSV upload and returns sf__ result columns', async () => {
    const csv = 'Ext_Id__c,Name\ne1,One\ne2,\ne3,Three\n';
    const results = await conn.bulk2.loadAndWaitForResults({
      object: 'Account',
      operation: 'upsert',
      externalIdFieldName: 'Ext_Id__c',
      input: csv,
      pollInterval: 10,
    });
    expect(sf.bulkUploads).toEqual([{ chunked: true, contentType: 'text/csv' }]);
    expect(
      results.successfulResults.map((r) => (r as unknown as Record<string, string>).Ext_Id__c).sort(),
    ).toEqual(['e1', 'e3']);
    expect(
      results.successfulResults.every((r) => r.sf__Created === 'true' && r.sf__Id.startsWith('001')),
    ).toBe(true);
    expect(results.failedResults).toEqual([
      {
        sf__Id: '',
        sf__Error: 'REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --',
        Ext_Id__c: 'e2',
        Name: '',
      },
    ]);
  });
});
