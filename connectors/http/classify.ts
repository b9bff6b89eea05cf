import type { HttpResponse, HttpResult } from '../shared/http-request.ts';
import { classifyTransportFailure, describeResponse } from '../shared/http-request.ts';
import { parseRetryAfter } from '../shared/retry-after.ts';
import type { BatchFailure } from '../types.ts';

/**
 * What a batch API's answer means for the whole request:
 * - 2xx: delivered; per-record results, if configured, are read next (results.ts).
 * - 400, 413 and 422: the batch was refused whole (one bad record, or too big): split it; a single
 *   record is rejected with the response's text.
 * - 408, 425, 429 and 5xx, timeouts and network errors: retry, honouring `Retry-After`.
 * - 401 and 403 (credentials), 404 and 405 (URL or method), 3xx (redirects are not followed): fatal,
 *   since no record can succeed until the configuration changes. 410 Gone also pauses the sync.
 * - any other 4xx: every record rejected with the response's text.
 */
export type HttpVerdict =
  | { kind: 'delivered'; response: HttpResponse }
  | { kind: 'rejected'; reason: string }
  | BatchFailure;

const retryStatuses = new Set([408, 425, 429]);
const splitStatuses = new Set([400, 413, 422]);
const fatalStatuses = new Set([401, 403, 404, 405]);

export function classifyError(result: HttpResult, options: { batchSize: number; now?: number }): HttpVerdict {
  if (!result.ok) return classifyTransportFailure(result);
  const { response } = result;
  const { status, headers, text } = response;
  if (status >= 200 && status < 300) return { kind: 'delivered', response };
  if (status >= 300 && status < 400) {
    const location = headers.location ? ` to ${headers.location}` : '';
    return { kind: 'fatal', reason: `HTTP ${status}: redirect${location} not followed; update the URL` };
  }
  if (status === 410)
    return {
      kind: 'fatal',
      pauseSync: true,
      reason: `the API answered 410 Gone; ${describeResponse(status, text)}`,
    };
  if (retryStatuses.has(status) || status >= 500) {
    const waitMs = parseRetryAfter(headers['retry-after'], options.now);
    return waitMs === undefined
      ? { kind: 'retry', reason: describeResponse(status, text) }
      : { kind: 'retry', reason: describeResponse(status, text), waitMs };
  }
  if (splitStatuses.has(status)) {
    return options.batchSize > 1
      ? { kind: 'split', reason: describeResponse(status, text) }
      : { kind: 'rejected', reason: describeResponse(status, text) };
  }
  if (fatalStatuses.has(status)) return { kind: 'fatal', reason: describeResponse(status, text) };
  return { kind: 'rejected', reason: describeResponse(status, text) };
}
