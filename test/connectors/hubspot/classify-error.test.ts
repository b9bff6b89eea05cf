import { describe, expect, it } from 'vitest';
import { classifyError } from '../../../connectors/hubspot/classify-error.ts';

/** The shape `@hubspot/api-client` throws: `ApiException {code, body, headers}` (headers lower-cased). */
function apiException(code: number, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return Object.assign(new Error(`HTTP-Code: ${code}`), { code, body, headers });
}

const now = Date.parse('2026-11-21T10:00:00Z');

describe('HubSpot classifyError', () => {
  const tenSecondly = {
    status: 'error',
    message: 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: 'c033cdaa-0000-0000-0000-000000000000',
    policyName: 'TEN_SECONDLY_ROLLING',
  };

  it('retries a ten-secondly 429 after Retry-After when HubSpot sends one', () => {
    expect(classifyError(apiException(429, tenSecondly, { 'retry-after': '3' }), now)).toEqual({
      kind: 'retry',
      reason: 'HubSpot 429: You have reached your ten_secondly_rolling limit.',
      waitMs: 3000,
    });
  });

  it('otherwise waits the interval HubSpot names in its rate-limit headers', () => {
    const headers = {
      'x-hubspot-ratelimit-interval-milliseconds': '10000',
      'x-hubspot-ratelimit-max': '190',
      'x-hubspot-ratelimit-remaining': '0',
    };
    expect(classifyError(apiException(429, tenSecondly, headers), now)).toMatchObject({
      kind: 'retry',
      waitMs: 10_000,
    });
  });

  it('falls back to the 10-second window, and to 1 s for the search secondly limit', () => {
    expect(classifyError(apiException(429, tenSecondly), now)).toMatchObject({
      kind: 'retry',
      waitMs: 10_000,
    });
    const search = { status: 'error', message: 'You have reached your secondly limit.' };
    expect(classifyError(apiException(429, search), now)).toMatchObject({ kind: 'retry', waitMs: 1000 });
  });

  it('stops on a DAILY 429 as quota, dated only when Retry-After gives the reset', () => {
    const daily = { ...tenSecondly, message: 'You have reached your daily limit.', policyName: 'DAILY' };
    expect(classifyError(apiException(429, daily), now)).toEqual({
      kind: 'quota',
      reason: 'HubSpot 429: You have reached your daily limit.',
    });
    expect(classifyError(apiException(429, daily, { 'retry-after': '3600' }), now)).toMatchObject({
      kind: 'quota',
      resetAt: new Date(now + 3_600_000),
    });
  });

  it('is fatal on 401 and 403: nothing succeeds until someone fixes the token or its scopes', () => {
    const auth = {
      status: 'error',
      message: 'Authentication credentials not found.',
      category: 'INVALID_AUTHENTICATION',
    };
    expect(classifyError(apiException(401, auth), now)).toEqual({
      kind: 'fatal',
      reason:
        'HubSpot 401 INVALID_AUTHENTICATION: Authentication credentials not found. (check the access token)',
    });
    const scope = {
      status: 'error',
      message: 'This app hasn\u2019t been granted all required scopes',
      category: 'MISSING_SCOPES',
    };
    expect(classifyError(apiException(403, scope), now)).toMatchObject({ kind: 'fatal' });
  });

  it('retries 5xx (honouring Retry-After), and failures with no response at all', () => {
    const internal = { status: 'error', message: 'internal error', category: 'INTERNAL_ERROR' };
    expect(classifyError(apiException(502, internal), now)).toEqual({
      kind: 'retry',
      reason: 'HubSpot 502 INTERNAL_ERROR: internal error',
    });
    expect(classifyError(apiException(503, internal, { 'retry-after': '2' }), now)).toMatchObject({
      waitMs: 2000,
    });
    expect(classifyError(new TypeError('fetch failed'), now)).toEqual({
      kind: 'retry',
      reason: 'HubSpot request failed without a response: fetch failed',
    });
    const noContentType = new Error('Cannot parse content. No Content-Type defined.');
    expect(classifyError(noContentType, now)).toMatchObject({ kind: 'retry' });
  });

  it('splits a batch refused whole for a bad input (400, 409)', () => {
    const duplicate = {
      status: 'error',
      message: 'Duplicate IDs found in batch input: [a@example.com]',
      category: 'VALIDATION_ERROR',
    };
    expect(classifyError(apiException(400, duplicate), now)).toEqual({
      kind: 'split',
      reason: 'HubSpot 400 VALIDATION_ERROR: Duplicate IDs found in batch input: [a@example.com]',
    });
    const conflict = {
      status: 'error',
      message: 'Contact already exists. Existing ID: 1201',
      category: 'CONFLICT',
    };
    expect(classifyError(apiException(409, conflict), now)).toMatchObject({ kind: 'split' });
  });

  it('is fatal for an unknown object type instead of splitting down to single records', () => {
    const unknown = {
      status: 'error',
      message: 'Unable to infer object type from: contact',
      category: 'VALIDATION_ERROR',
    };
    expect(classifyError(apiException(400, unknown), now)).toMatchObject({ kind: 'fatal' });
    expect(classifyError(apiException(404, { status: 'error', message: 'not found' }), now)).toMatchObject({
      kind: 'fatal',
    });
  });
});
