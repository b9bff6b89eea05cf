import { parseRetryAfter } from '../shared/retry-after.ts';
import type { BatchFailure } from '../types.ts';

/**
 * HubSpot's failure shapes, turned into what the engine should do. Pure: the error, the current time,
 * nothing else. `@hubspot/api-client` throws an `ApiException` `{code, body, headers}` for every status
 * other than the one documented for the call (body passed through as parsed JSON, headers lower-cased);
 * a network failure or a timeout throws a plain error with no status.
 */

interface HubspotErrorBody {
  message?: unknown;
  category?: unknown;
  policyName?: unknown;
  correlationId?: unknown;
}

interface ApiExceptionLike {
  code: number;
  body: HubspotErrorBody | undefined;
  headers: Record<string, string>;
}

/** The rolling 10-second window HubSpot uses when its 429 carries no interval header. */
const defaultIntervalMs = 10_000;

/** The CRM search limit is per second; the SDK recognises it only by this exact message. */
const secondlyLimitMessage = 'You have reached your secondly limit.';

function asApiException(error: unknown): ApiExceptionLike | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, body, headers } = error as { code?: unknown; body?: unknown; headers?: unknown };
  if (typeof code !== 'number' || code < 100 || code > 599) return undefined;
  const flatHeaders: Record<string, string> = {};
  if (typeof headers === 'object' && headers !== null) {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === 'string') flatHeaders[name.toLowerCase()] = value;
    }
  }
  const parsedBody = typeof body === 'object' && body !== null ? (body as HubspotErrorBody) : undefined;
  return { code, body: parsedBody, headers: flatHeaders };
}

function describe(exception: ApiExceptionLike): string {
  const message = typeof exception.body?.message === 'string' ? exception.body.message : 'no message';
  const category = typeof exception.body?.category === 'string' ? ` ${exception.body.category}` : '';
  return `HubSpot ${exception.code}${category}: ${message}`;
}

function positiveMs(value: string | undefined): number | undefined {
  if (!value || !/^\d+$/.test(value.trim())) return undefined;
  const ms = Number(value.trim());
  return ms > 0 ? ms : undefined;
}

export function classifyError(error: unknown, now: number = Date.now()): BatchFailure {
  const exception = asApiException(error);
  if (!exception) {
    const message = error instanceof Error ? error.message : String(error);
    return { kind: 'retry', reason: `HubSpot request failed without a response: ${message}` };
  }
  const { code, body, headers } = exception;
  const reason = describe(exception);
  const retryAfterMs = parseRetryAfter(headers['retry-after'], now);

  if (code === 429) {
    // A spent daily limit resets at midnight in the account's time zone, which the API does not tell
    // us; only a Retry-After, when HubSpot sends one, dates the reset.
    if (body?.policyName === 'DAILY') {
      return retryAfterMs === undefined
        ? { kind: 'quota', reason }
        : { kind: 'quota', reason, resetAt: new Date(now + retryAfterMs) };
    }
    const fallbackMs =
      body?.message === secondlyLimitMessage
        ? 1_000
        : (positiveMs(headers['x-hubspot-ratelimit-interval-milliseconds']) ?? defaultIntervalMs);
    return { kind: 'retry', reason, waitMs: retryAfterMs ?? fallbackMs };
  }
  if (code === 401) return { kind: 'fatal', reason: `${reason} (check the access token)` };
  if (code === 403) {
    return { kind: 'fatal', reason: `${reason} (the private app may lack a scope for this object)` };
  }
  if (code === 408 || code === 423 || code >= 500) {
    return retryAfterMs === undefined
      ? { kind: 'retry', reason }
      : { kind: 'retry', reason, waitMs: retryAfterMs };
  }
  // HubSpot answers an unknown object type with a 400; splitting would only repeat it per record.
  if (
    code === 400 &&
    typeof body?.message === 'string' &&
    body.message.startsWith('Unable to infer object type')
  ) {
    return { kind: 'fatal', reason };
  }
  // A 400 (validation, duplicate ids), 409 (unique value conflict on create) or 413 refuses the whole
  // batch for what is usually one bad input: splitting isolates it.
  if (code === 400 || code === 409 || code === 413 || code === 422) return { kind: 'split', reason };
  // 404 for a whole request means an unknown object type or path; nothing will succeed until the sync
  // is fixed. Any other 4xx is equally a configuration problem.
  return { kind: 'fatal', reason };
}
