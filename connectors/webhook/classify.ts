import type { HttpResult } from '../shared/http-request.ts';
import { classifyTransportFailure, describeResponse } from '../shared/http-request.ts';
import { parseRetryAfter } from '../shared/retry-after.ts';
import type { BatchFailure } from '../types.ts';

/**
 * What one webhook delivery attempt means, following Standard Webhooks and Svix:
 * - 2xx: accepted. 3xx: a failure (redirects are not followed), so rejected.
 * - 410 Gone: the receiver asks to be disabled; fatal, and the sync is paused.
 * - 408, 425, 429 and 5xx, timeouts and network errors: retry, honouring `Retry-After`.
 * - a `webhook-delivery: abort-message` header: the receiver asks not to retry; rejected.
 * - 400, 413 and 422 for a batch: split it, to isolate the records the receiver refuses.
 * - any other 4xx: every record rejected with the response's text.
 * - an address the SSRF guard refuses: fatal until the URL or the policy changes.
 */
export type WebhookVerdict = { kind: 'accepted' } | { kind: 'rejected'; reason: string } | BatchFailure;

const retryStatuses = new Set([408, 425, 429]);
const splitStatuses = new Set([400, 413, 422]);

export function classifyError(
  result: HttpResult,
  options: { batchSize: number; now?: number },
): WebhookVerdict {
  if (!result.ok) return classifyTransportFailure(result);
  const { status, headers, text } = result.response;
  if (headers['webhook-delivery']?.trim().toLowerCase() === 'abort-message') {
    return {
      kind: 'rejected',
      reason: `the receiver asked not to retry (webhook-delivery: abort-message); ${describeResponse(status, text)}`,
    };
  }
  if (status >= 200 && status < 300) return { kind: 'accepted' };
  if (status >= 300 && status < 400) {
    const location = headers.location ? ` to ${headers.location}` : '';
    return { kind: 'rejected', reason: `HTTP ${status}: redirect${location} not followed; update the URL` };
  }
  if (status === 410) {
    return {
      kind: 'fatal',
      pauseSync: true,
      reason: `the receiver answered 410 Gone: it no longer accepts deliveries, so the sync is paused until it is re-enabled; ${describeResponse(status, text)}`,
    };
  }
  if (retryStatuses.has(status) || status >= 500) {
    const waitMs = parseRetryAfter(headers['retry-after'], options.now);
    return waitMs === undefined
      ? { kind: 'retry', reason: describeResponse(status, text) }
      : { kind: 'retry', reason: describeResponse(status, text), waitMs };
  }
  if (splitStatuses.has(status) && options.batchSize > 1)
    return { kind: 'split', reason: describeResponse(status, text) };
  return { kind: 'rejected', reason: describeResponse(status, text) };
}
