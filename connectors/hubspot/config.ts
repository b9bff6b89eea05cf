import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RateLimits } from '../types.ts';

/** HubSpot's public API host; `basePath` replaces it (e.g. with a local emulator in tests). */
export const defaultBasePath = 'https://api.hubapi.com';

export const hubspotTiers = ['free', 'starter', 'professional', 'enterprise'] as const;
export type HubspotTier = (typeof hubspotTiers)[number];

/**
 * Private-app request limits per 10-second rolling window, from HubSpot's "API usage guidelines" by
 * subscription tier. The daily limits (250k / 650k / 1M) are not enforced client-side: a `DAILY` 429
 * ends the run as `quota` instead.
 */
const requestsPer10sByTier: Record<HubspotTier, number> = {
  free: 100,
  starter: 100,
  professional: 190,
  enterprise: 190,
};

/**
 * HubSpot documents no concurrency limit for private apps; a handful of requests in flight is enough
 * to keep a 10-second window busy at a few hundred milliseconds per batch call.
 */
const defaultMaxConcurrent = 8;

export const hubspotConfigSchema = z.object({
  /** A private-app access token (or an OAuth access token). Stored encrypted; never logged. */
  accessToken: z.string().min(1, 'is required'),
  basePath: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as http://127.0.0.1:4010' })
    .optional(),
  tier: z.enum(hubspotTiers).default('starter'),
  limits: z
    .object({
      requestsPerInterval: z.number().int().min(1).optional(),
      intervalMs: z.number().int().min(1).optional(),
      maxConcurrent: z.number().int().min(1).max(100).optional(),
    })
    .strict()
    .optional(),
  /** A request with no response within this time is abandoned and retried. */
  requestTimeoutMs: z.number().int().min(100).max(300_000).default(30_000),
});

export type HubspotConfig = z.output<typeof hubspotConfigSchema>;

export function hubspotLimits(config: HubspotConfig): RateLimits {
  return {
    requestsPerInterval: config.limits?.requestsPerInterval ?? requestsPer10sByTier[config.tier],
    intervalMs: config.limits?.intervalMs ?? 10_000,
    maxConcurrent: config.limits?.maxConcurrent ?? defaultMaxConcurrent,
  };
}

/**
 * HubSpot limits requests per app and account, which the token stands for. The key is a hash, so the
 * token never reaches a log line or a limiter's name; the base path is part of it so an emulator and the
 * real API never share a budget.
 */
export function hubspotCredentialKey(config: HubspotConfig): string {
  const digest = createHash('sha256')
    .update(`${config.basePath ?? defaultBasePath}\n${config.accessToken}`)
    .digest('hex');
  return `hubspot:${digest.slice(0, 32)}`;
}
