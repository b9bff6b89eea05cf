import { originKey } from '../shared/http-config.ts';
import type { Connector, RateLimits } from '../types.ts';
import { createHttpClient } from './client.ts';
import { type HttpConfig, httpConfigSchema, httpSecretFields } from './config.ts';

/**
 * Batch APIs publish limits from about 10 requests/s (Iterable bulk) to 1,000/s (Braze); the default
 * is the low end, to be raised per destination with `limits`.
 */
const defaultLimits: RateLimits = { requestsPerInterval: 10, intervalMs: 1000, maxConcurrent: 2 };

export const httpConnector: Connector<HttpConfig> = {
  kind: 'http',
  label: 'Batch HTTP API',
  configSchema: httpConfigSchema,
  secretFields: httpSecretFields,
  capabilities: (config) => ({
    modes: ['upsert', 'update', 'insert', 'mirror'],
    objects: 'any',
    identifier: 'optional',
    maxBatchRecords: config.maxBatchRecords,
    maxBatchBytes: config.maxBatchBytes,
  }),
  limits: (config) => config.limits ?? defaultLimits,
  credentialKey: (config) => originKey('http', config.url),
  create: (config, deps) => createHttpClient(config, deps),
};

export { classifyError } from './classify.ts';
export { buildBody, buildRecord } from './client.ts';
export { matchResults } from './results.ts';
