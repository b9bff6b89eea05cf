import { describe, expect, it } from 'vitest';
import { httpConnector } from '../../../connectors/http/index.ts';
import { webhookConnector } from '../../../connectors/webhook/index.ts';
import { secretA, secretB } from './helpers.ts';

function issues(input: unknown): string[] {
  const parsed = webhookConnector.configSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('webhook config', () => {
  it('fills in the documented defaults', () => {
    expect(webhookConnector.configSchema.parse({ url: 'https://hooks.example.test/ebb' })).toEqual({
      url: 'https://hooks.example.test/ebb',
      method: 'POST',
      headers: {},
      secretHeaders: {},
      batchSize: 1,
      timeoutMs: 15_000,
      template: { wrap: 'data' },
    });
  });

  it('refuses URLs that are not http(s) or carry credentials', () => {
    expect(issues({ url: 'file:///etc/passwd' })).toEqual(['url: must be an http:// or https:// URL']);
    expect(issues({ url: 'https://user:pw@hooks.example.test/' })).toEqual([
      'url: must not carry credentials in the URL; use secretHeaders',
    ]);
  });

  it('refuses headers that would forge a signature or break framing', () => {
    expect(issues({ url: 'https://h.example.test/', headers: { 'Webhook-Signature': 'v1,forged' } })).toEqual(
      ['headers.Webhook-Signature: is set by Ebb and cannot be overridden'],
    );
    expect(
      issues({ url: 'https://h.example.test/', secretHeaders: { 'x-key': 'a\r\nx-injected: 1' } }),
    ).toEqual(['secretHeaders.x-key: must not contain line breaks']);
    expect(issues({ url: 'https://h.example.test/', headers: { 'bad header': 'x' } })).toEqual([
      'headers.bad header: is not a valid header name',
    ]);
  });

  it('reads one or several signing secrets and refuses malformed ones', () => {
    const parsed = webhookConnector.configSchema.parse({
      url: 'https://h.example.test/',
      signingSecret: `${secretA} ${secretB}`,
    });
    expect(parsed.signingSecret).toEqual([secretA, secretB]);
    expect(issues({ url: 'https://h.example.test/', signingSecret: 'whsec_c2hvcnQ=' })).toEqual([
      'signingSecret: a signing secret decodes to 24 to 64 bytes, this one to 5',
    ]);
  });

  it('keys the rate limit on the URL origin only, never on secrets or paths', () => {
    const key = (config: unknown) =>
      webhookConnector.credentialKey(webhookConnector.configSchema.parse(config));
    const a = key({ url: 'https://h.example.test/a', signingSecret: secretA });
    expect(a).toBe(key({ url: 'https://h.example.test/b?x=1', signingSecret: secretB }));
    expect(a).not.toBe(key({ url: 'https://h.example.test:8443/a' }));
    expect(a).toMatch(/^webhook:[0-9a-f]{32}$/);
    expect(
      httpConnector.credentialKey(httpConnector.configSchema.parse({ url: 'https://h.example.test/a' })),
    ).toMatch(/^http:[0-9a-f]{32}$/);
  });

  it('declares the batch size as its capability and every sync mode', () => {
    const config = webhookConnector.configSchema.parse({ url: 'https://h.example.test/', batchSize: 50 });
    expect(webhookConnector.capabilities(config)).toEqual({
      modes: ['upsert', 'update', 'insert', 'mirror'],
      objects: 'any',
      identifier: 'optional',
      maxBatchRecords: 50,
      maxBatchBytes: 1024 * 1024,
    });
  });
});
