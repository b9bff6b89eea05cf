import type { BatchFailure } from '../types.ts';

/**
 * The parts of a failed jsforce call that decide what to do next. jsforce's `HttpApiError` carries
 * the vendor's `errorCode` (also as `name`) but not the HTTP status; a body it cannot read becomes
 * `ERROR_HTTP_<status>`. Network failures are undici `TypeError('fetch failed')` with a `cause.code`.
 */
export interface SalesforceErrorShape {
  errorCode?: string;
  name?: string;
  message?: string;
  causeCode?: string;
}

/** Thrown by the client itself when a request outlives `requestTimeoutMs`. */
export class SalesforceTimeoutError extends Error {
  override name = 'SalesforceTimeoutError';
}

export function errorShape(error: unknown): SalesforceErrorShape {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const e = error as { errorCode?: unknown; name?: unknown; message?: unknown; cause?: unknown };
  const cause = e.cause as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const causeCode = cause?.code ?? cause?.cause?.code;
  return {
    errorCode: typeof e.errorCode === 'string' ? e.errorCode : undefined,
    name: typeof e.name === 'string' ? e.name : undefined,
    message: typeof e.message === 'string' ? e.message : undefined,
    causeCode: typeof causeCode === 'string' ? causeCode : undefined,
  };
}

/** Nothing succeeds until a person fixes the connection, the mapping or the org's settings. */
const fatalCodes = new Set([
  'INVALID_SESSION_ID',
  'INVALID_AUTH_HEADER',
  'invalid_grant',
  'invalid_client',
  'invalid_client_id',
  'unsupported_grant_type',
  'INSUFFICIENT_ACCESS',
  'API_DISABLED_FOR_ORG',
  'API_CURRENTLY_DISABLED',
  'FUNCTIONALITY_NOT_ENABLED',
  'INVALID_TYPE',
  'NOT_FOUND',
  'INVALID_FIELD',
  'INVALID_FIELD_FOR_INSERT_UPDATE',
  'ERROR_HTTP_401',
  'ERROR_HTTP_404',
]);

/** The request as a whole was refused; halves may pass and a single record gets its own reason. */
const splitCodes = new Set([
  'JSON_PARSER_ERROR',
  'MALFORMED_ID',
  'INVALID_ID_FIELD',
  'EXCEEDED_ID_LIMIT',
  'TOO_MANY_RECORDS',
  'INVALID_BATCH',
  'InvalidBatch',
  'MULTIPLE_API_ERRORS',
  'ERROR_HTTP_400',
  'ERROR_HTTP_413',
  'ERROR_HTTP_414',
]);

/** Transient on Salesforce's side: locks, maintenance, overload. */
const retryCodes = new Set([
  'SERVER_UNAVAILABLE',
  'UNKNOWN_EXCEPTION',
  'UNABLE_TO_LOCK_ROW',
  'REQUEST_RUNNING_TOO_LONG',
]);

const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Maps a failed Salesforce request to what the engine does with the batch. jsforce never retries
 * POST/PATCH, so collection writes depend on this for transient failures. Pure: unit-tested alone.
 */
export function classifyError(error: unknown): BatchFailure {
  const { errorCode, name, message = '', causeCode } = errorShape(error);
  const code = errorCode ?? name ?? '';
  const reason = code && code !== 'Error' ? `${code}: ${message}` : message || 'unknown Salesforce error';

  if (code === 'REQUEST_LIMIT_EXCEEDED') {
    // Too many concurrent long-running requests clears within seconds; the daily allocation does
    // not (Salesforce sends no Retry-After and no reset time: the window is a rolling 24 h).
    if (/concurrent/i.test(message)) return { kind: 'retry', reason, waitMs: 20_000 };
    return { kind: 'quota', reason };
  }
  // jsforce wraps a failed OAuth refresh: the session expired and cannot be renewed without a person.
  if (message.startsWith('Unable to refresh session')) return { kind: 'fatal', reason };
  if (fatalCodes.has(code)) return { kind: 'fatal', reason };
  if (splitCodes.has(code)) return { kind: 'split', reason };
  if (retryCodes.has(code)) return { kind: 'retry', reason };

  const httpStatus = /^ERROR_HTTP_(\d{3})$/.exec(code)?.[1];
  if (httpStatus) {
    const status = Number(httpStatus);
    if (status === 429 || status === 420 || status >= 500) return { kind: 'retry', reason };
    if (status === 403) return { kind: 'fatal', reason };
    return { kind: 'split', reason };
  }
  if (causeCode && networkCodes.has(causeCode)) return { kind: 'retry', reason: `${causeCode}: ${message}` };
  if (name === 'SalesforceTimeoutError' || name === 'AbortError' || name === 'TimeoutError') {
    return { kind: 'retry', reason };
  }
  if (message === 'Request Timeout' || message === 'fetch failed' || name === 'JobPollingTimeout') {
    return { kind: 'retry', reason };
  }
  // A Bulk 2.0 job the org failed as a whole (e.g. InvalidBatch); smaller halves fall below the bulk
  // threshold and go through Collections, which report a reason per record.
  if (message.startsWith('Ingest job failed')) return { kind: 'split', reason };
  if (message === 'Job has been aborted') return { kind: 'retry', reason };
  // Unknown shapes are retried: the engine caps attempts, and a person sees the reason if they persist.
  return { kind: 'retry', reason };
}
