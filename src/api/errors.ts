import { z } from '@hono/zod-openapi';

/**
 * Every error the API can answer, as a closed union. The HTTP status is derived from the code in one
 * place (`statusOf`), so a route cannot answer a code with the wrong status.
 */
export const errorCodes = [
  'validation_failed',
  'invalid_json',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'run_already_active',
  'payload_too_large',
  'unsupported_media_type',
  'connection_failed',
  'destination_error',
  'sql_rejected',
  'not_supported',
  'internal_error',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export function statusOf(code: ErrorCode) {
  switch (code) {
    case 'validation_failed':
    case 'invalid_json':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'conflict':
    case 'run_already_active':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'connection_failed':
    case 'destination_error':
    case 'sql_rejected':
    case 'not_supported':
      return 422;
    case 'internal_error':
      return 500;
  }
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  get status() {
    return statusOf(this.code);
  }
}

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

export type ErrorBody = z.infer<typeof errorBodySchema>;

export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Turns zod issues into a list a person can act on: which field, what is wrong. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]) {
  return issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(body)',
    message: issue.message,
  }));
}

/** The responses every route can give, for the OpenAPI document. */
export const errorResponses = (...codes: (400 | 401 | 403 | 404 | 409 | 413 | 415 | 422)[]) =>
  Object.fromEntries(
    codes.map((status) => [
      status,
      { description: 'Error', content: { 'application/json': { schema: errorBodySchema } } },
    ]),
  );
