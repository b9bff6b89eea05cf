import { describe, expect, it } from 'vitest';
import { httpResultsSchema } from '../../../connectors/http/config.ts';
import { classifyError, matchResults } from '../../../connectors/http/index.ts';
import type { HttpResult } from '../../../connectors/shared/http-request.ts';
import { upsert } from '../webhook/helpers.ts';

const now = Date.parse('2026-01-01T00:00:00Z');
const answer = (status: number, text = '', headers: Record<string, string> = {}): HttpResult => ({
  ok: true,
  response: { status, headers, text },
});

describe('batch HTTP classifyError', () => {
  it('splits a batch refused whole, rejects a single record with the text', () => {
    expect(classifyError(answer(400, 'bad email'), { batchSize: 4, now })).toEqual({
      kind: 'split',
      reason: 'HTTP 400: bad email',
    });
    expect(classifyError(answer(413), { batchSize: 4, now })).toEqual({ kind: 'split', reason: 'HTTP 413' });
    expect(classifyError(answer(400, 'bad email'), { batchSize: 1, now })).toEqual({
      kind: 'rejected',
      reason: 'HTTP 400: bad email',
    });
  });

  it('retries 429 and 5xx with Retry-After', () => {
    expect(classifyError(answer(429, '', { 'retry-after': '3' }), { batchSize: 4, now })).toEqual({
      kind: 'retry',
      reason: 'HTTP 429',
      waitMs: 3000,
    });
    expect(classifyError(answer(502), { batchSize: 4, now })).toEqual({ kind: 'retry', reason: 'HTTP 502' });
  });

  it('stops on credentials, wrong URLs and redirects', () => {
    expect(classifyError(answer(401, 'invalid api key'), { batchSize: 4, now })).toEqual({
      kind: 'fatal',
      reason: 'HTTP 401: invalid api key',
    });
    expect(classifyError(answer(404), { batchSize: 4, now }).kind).toBe('fatal');
    expect(classifyError(answer(308), { batchSize: 4, now }).kind).toBe('fatal');
    expect(classifyError(answer(410), { batchSize: 4, now })).toMatchObject({
      kind: 'fatal',
      pauseSync: true,
    });
  });

  it('rejects other 4xx whole and passes 2xx on', () => {
    expect(classifyError(answer(409, 'conflict'), { batchSize: 4, now })).toEqual({
      kind: 'rejected',
      reason: 'HTTP 409: conflict',
    });
    expect(classifyError(answer(200, '{}'), { batchSize: 4, now }).kind).toBe('delivered');
  });
});

describe('matchResults', () => {
  const changes = [upsert('1', { n: 1 }), upsert('2', { n: 2 }), upsert('3', { n: 3 })];
  const config = httpResultsSchema.parse({
    path: 'data.results',
    keyField: 'id',
    statusField: 'status',
    errorField: 'error',
    idField: 'uid',
  });

  it('matches by key whatever the order, keeping errors and destination ids', () => {
    const body = JSON.stringify({
      data: {
        results: [
          { id: '3', status: 'error', error: { code: 'invalid', field: 'n' } },
          { id: 1, status: 'ok', uid: 'u-1' },
        ],
      },
    });
    expect(matchResults(changes, body, config)).toEqual([
      { key: '1', status: 'accepted', destinationRecordId: 'u-1' },
      { key: '2', status: 'rejected', reason: 'the response had no result for this record' },
      { key: '3', status: 'rejected', reason: '{"code":"invalid","field":"n"}' },
    ]);
  });

  it('reads success from the error field alone when there is no status field', () => {
    const onlyErrors = httpResultsSchema.parse({ path: '', keyField: 'key', errorField: 'error' });
    const body = JSON.stringify([{ key: '1' }, { key: '2', error: 'duplicate' }, { key: '3', error: null }]);
    expect(matchResults(changes, body, onlyErrors).map((o) => o.status)).toEqual([
      'accepted',
      'rejected',
      'accepted',
    ]);
  });

  it('rejects every record when the answer has no results where configured', () => {
    expect(matchResults(changes.slice(0, 1), '<html>gateway</html>', config)).toEqual([
      {
        key: '1',
        status: 'rejected',
        reason: 'the response has no results array at "data.results": <html>gateway</html>',
      },
    ]);
  });
});
