import { describe, expect, it } from 'vitest';
import type { HttpResult } from '../../../connectors/shared/http-request.ts';
import { classifyError } from '../../../connectors/webhook/classify.ts';

const now = Date.parse('2026-01-01T00:00:00Z');

function answer(status: number, text = '', headers: Record<string, string> = {}): HttpResult {
  return { ok: true, response: { status, headers, text } };
}

const single = { batchSize: 1, now };

describe('webhook classifyError', () => {
  it('accepts any 2xx', () => {
    for (const status of [200, 201, 202, 204])
      expect(classifyError(answer(status), single)).toEqual({ kind: 'accepted' });
  });

  it('pauses the sync on 410 Gone', () => {
    expect(classifyError(answer(410, 'bye'), single)).toEqual({
      kind: 'fatal',
      pauseSync: true,
      reason:
        'the receiver answered 410 Gone: it no longer accepts deliveries, so the sync is paused until it is re-enabled; HTTP 410: bye',
    });
  });

  it('retries throttling and server errors, honouring Retry-After', () => {
    expect(classifyError(answer(429, 'slow', { 'retry-after': '7' }), single)).toEqual({
      kind: 'retry',
      reason: 'HTTP 429: slow',
      waitMs: 7000,
    });
    expect(
      classifyError(answer(503, '', { 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), single),
    ).toEqual({
      kind: 'retry',
      reason: 'HTTP 503',
      waitMs: 30_000,
    });
    for (const status of [408, 500, 502, 504])
      expect(classifyError(answer(status), single).kind).toBe('retry');
  });

  it('retries timeouts and network errors; refuses blocked addresses for good', () => {
    expect(
      classifyError({ ok: false, kind: 'timeout', message: 'no response within 15000 ms' }, single),
    ).toEqual({
      kind: 'retry',
      reason: 'timeout: no response within 15000 ms',
    });
    expect(classifyError({ ok: false, kind: 'network', message: 'ECONNREFUSED' }, single).kind).toBe('retry');
    expect(classifyError({ ok: false, kind: 'blocked', message: 'refusing 10.0.0.1' }, single)).toEqual({
      kind: 'fatal',
      reason: 'refusing 10.0.0.1',
    });
  });

  it('rejects other 4xx with the response text, truncated', () => {
    expect(classifyError(answer(422, '{"error":"email is invalid"}'), single)).toEqual({
      kind: 'rejected',
      reason: 'HTTP 422: {"error":"email is invalid"}',
    });
    const long = classifyError(answer(400, 'x'.repeat(2000)), single);
    expect(long.kind === 'rejected' && long.reason.length).toBe('HTTP 400: '.length + 501);
  });

  it('splits a batch the receiver refuses whole', () => {
    expect(classifyError(answer(400, 'bad'), { batchSize: 10, now })).toEqual({
      kind: 'split',
      reason: 'HTTP 400: bad',
    });
    expect(classifyError(answer(413), { batchSize: 10, now }).kind).toBe('split');
    expect(classifyError(answer(401), { batchSize: 10, now }).kind).toBe('rejected');
  });

  it('treats redirects as failures and honours abort-message', () => {
    expect(classifyError(answer(301, '', { location: 'https://elsewhere.test/' }), single)).toEqual({
      kind: 'rejected',
      reason: 'HTTP 301: redirect to https://elsewhere.test/ not followed; update the URL',
    });
    expect(classifyError(answer(500, 'nope', { 'webhook-delivery': 'abort-message' }), single)).toEqual({
      kind: 'rejected',
      reason: 'the receiver asked not to retry (webhook-delivery: abort-message); HTTP 500: nope',
    });
  });
});
