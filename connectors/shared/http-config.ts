import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Config pieces shared by the connectors that call a user-supplied URL (webhook, batch HTTP). */

export const endpointUrlSchema = z
  .string()
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: 'must be an http:// or https:// URL' },
  )
  .refine((value) => !/^[a-z]+:\/\/[^/]*@/i.test(value), {
    message: 'must not carry credentials in the URL; use secretHeaders',
  });

// Headers Ebb sets itself: a user value would break framing or forge the signature.
const reservedHeaders = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A header name a user may set: valid, and not one Ebb sets itself. */
export const headerNameSchema = z
  .string()
  .regex(headerNamePattern, 'is not a valid header name')
  .refine((name) => !reservedHeaders.has(name.toLowerCase()), {
    message: 'is set by Ebb and cannot be overridden',
  });

/** Header names are checked in a refinement rather than a key schema, so the message names the problem. */
export const headersSchema = z
  .record(
    z.string(),
    z.string().refine((value) => !/[\r\n\0]/.test(value), { message: 'must not contain line breaks' }),
  )
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (!headerNamePattern.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' });
      } else if (reservedHeaders.has(name.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Ebb and cannot be overridden' });
      }
    }
  });

export const limitsSchema = z
  .object({
    requestsPerInterval: z.number().int().min(1).max(100_000),
    intervalMs: z.number().int().min(1).max(86_400_000),
    maxConcurrent: z.number().int().min(1).max(256),
  })
  .strict();

/**
 * The limiter key for an endpoint: a hash of the URL's origin, so every sync posting to one server
 * shares its rate limit, and the key (which may be logged) reveals neither path nor secrets.
 */
export function originKey(kind: string, url: string): string {
  const origin = new URL(url).origin;
  return `${kind}:${createHash('sha256').update(origin).digest('hex').slice(0, 32)}`;
}
