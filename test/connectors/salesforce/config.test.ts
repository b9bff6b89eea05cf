import { describe, expect, it } from 'vitest';
import { salesforceConnector } from '../../../connectors/salesforce/index.ts';
import { silentLogger } from '../../../src/logger.ts';

const base = { instanceUrl: 'https://acme.my.salesforce.com', accessToken: '00D!secret-token' };

describe('Salesforce connector config', () => {
  it('defaults the API version to 62.0 and needs a token or a refresh token with a client id', () => {
    expect(salesforceConnector.configSchema.parse(base)).toMatchObject({ apiVersion: '62.0' });
    const missing = salesforceConnector.configSchema.safeParse({ instanceUrl: base.instanceUrl });
    expect(missing.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['accessToken', 'needs accessToken, or refreshToken with clientId'],
    ]);
    const lightning = salesforceConnector.configSchema.safeParse({
      ...base,
      instanceUrl: 'https://acme.lightning.force.com',
    });
    expect(lightning.error?.issues[0]?.message).toBe(
      'use the my.salesforce.com instance URL, not a Lightning URL',
    );
    const old = salesforceConnector.configSchema.safeParse({ ...base, apiVersion: '45.0' });
    expect(old.error?.issues[0]?.message).toBe('must be 46.0 or later (sObject Collections upsert)');
  });

  it('keys rate limits by org and connected app, never by token', () => {
    const a = salesforceConnector.configSchema.parse(base);
    const b = salesforceConnector.configSchema.parse({ ...base, accessToken: 'another-token' });
    const c = salesforceConnector.configSchema.parse({
      ...base,
      instanceUrl: 'https://other.my.salesforce.com',
    });
    expect(salesforceConnector.credentialKey(a)).toBe(salesforceConnector.credentialKey(b));
    expect(salesforceConnector.credentialKey(a)).not.toBe(salesforceConnector.credentialKey(c));
    expect(salesforceConnector.credentialKey(a)).not.toContain('secret');
    expect(salesforceConnector.secretFields).toEqual(['accessToken', 'refreshToken', 'clientSecret']);
  });

  it('caps batches at 200 for Collections and allows bulk-sized batches when bulk is on', () => {
    const collections = salesforceConnector.configSchema.parse(base);
    const bulk = salesforceConnector.configSchema.parse({ ...base, bulkThreshold: 2000 });
    expect(salesforceConnector.capabilities(collections).maxBatchRecords).toBe(200);
    expect(salesforceConnector.capabilities(bulk).maxBatchRecords).toBe(10_000);
    expect(salesforceConnector.limits({ ...bulk, limits: { maxConcurrent: 2 } })).toEqual({
      requestsPerInterval: 25,
      intervalMs: 1000,
      maxConcurrent: 2,
    });
  });

  it('refuses loopback and private instance URLs unless private networks are allowed', async () => {
    const config = salesforceConnector.configSchema.parse({ ...base, instanceUrl: 'http://127.0.0.1:9' });
    const client = salesforceConnector.create(config, { logger: silentLogger, allowPrivateNetwork: false });
    const reason =
      'http://127.0.0.1:9 is a private or loopback address; set EBB_ALLOW_PRIVATE_NETWORK to allow it';
    expect(await client.test(new AbortController().signal)).toEqual({ ok: false, message: reason });
    const result = await client.write([], {
      syncId: 's',
      runId: 'r',
      object: 'Contact',
      mode: 'upsert',
      identifierField: 'Ext_Id__c',
      signal: new AbortController().signal,
      logger: silentLogger,
    });
    expect(result).toEqual({ ok: false, failure: { kind: 'fatal', reason } });
  });
});
