import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RateLimits } from '../types.ts';

/**
 * Salesforce has no per-second request limit; what binds is the org's rolling 24 h API allocation
 * (tracked from `Sforce-Limit-Info`, see `dailyApiBudget`) and 25 concurrent long-running requests
 * per production org (5 on Developer Edition). These defaults stay well inside both.
 */
export const defaultSalesforceLimits: RateLimits = {
  requestsPerInterval: 25,
  intervalMs: 1000,
  maxConcurrent: 5,
};

/** sObject Collections accept at most 200 records per request (jsforce's MAX_DML_COUNT). */
export const collectionMaxRecords = 200;

/** Records per Bulk API 2.0 job when bulk is enabled; one upload stays far below the 100 MB raw CSV cap. */
export const defaultBulkBatchRecords = 10_000;

const httpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL')
  .refine(
    (v) => !v.includes('.lightning.force.com'),
    'use the my.salesforce.com instance URL, not a Lightning URL',
  )
  .transform((v) => v.replace(/\/+$/, ''));

export const salesforceConfigSchema = z
  .object({
    instanceUrl: httpUrl,
    accessToken: z.string().min(1).optional(),
    refreshToken: z.string().min(1).optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    loginUrl: httpUrl.optional(),
    apiVersion: z
      .string()
      .regex(/^\d{2,3}\.0$/, 'must look like 62.0')
      .refine((v) => Number(v) >= 46, 'must be 46.0 or later (sObject Collections upsert)')
      .default('62.0'),
    /** Batches of at least this many records go through one Bulk API 2.0 job; unset = Collections only. */
    bulkThreshold: z.number().int().min(1).optional(),
    /** Largest batch the engine hands over when bulk is enabled. */
    bulkBatchRecords: z.number().int().min(1).max(150_000).default(defaultBulkBatchRecords),
    bulkPollIntervalMs: z.number().int().min(10).default(2000),
    bulkPollTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(30 * 60_000),
    /**
     * The org-wide `api-usage` count Ebb may drive the org up to (rolling 24 h), leaving the rest of
     * the allocation to other integrations. Writes stop with `quota` before crossing it.
     */
    dailyApiBudget: z.number().int().min(1).optional(),
    /** One request's deadline; Salesforce's own REST timeout is 10 minutes. */
    requestTimeoutMs: z.number().int().min(100).default(120_000),
    limits: z
      .object({
        requestsPerInterval: z.number().int().min(1),
        intervalMs: z.number().int().min(1),
        maxConcurrent: z.number().int().min(1),
      })
      .partial()
      .optional(),
  })
  .refine((c) => c.accessToken !== undefined || (c.refreshToken !== undefined && c.clientId !== undefined), {
    message: 'needs accessToken, or refreshToken with clientId',
    path: ['accessToken'],
  })
  .refine((c) => c.refreshToken === undefined || c.clientId !== undefined, {
    message: 'refreshToken needs clientId (and clientSecret for a confidential connected app)',
    path: ['clientId'],
  });

export type SalesforceConfig = z.infer<typeof salesforceConfigSchema>;

export const salesforceSecretFields = ['accessToken', 'refreshToken', 'clientSecret'] as const;

export function salesforceLimits(config: SalesforceConfig): RateLimits {
  return { ...defaultSalesforceLimits, ...config.limits };
}

/** API limits belong to the org, so the key is the instance plus the connected app; never a token. */
export function salesforceCredentialKey(config: SalesforceConfig): string {
  const hash = createHash('sha256')
    .update(`${config.instanceUrl.toLowerCase()}|${config.clientId ?? ''}`)
    .digest('hex');
  return `salesforce:${hash.slice(0, 32)}`;
}
