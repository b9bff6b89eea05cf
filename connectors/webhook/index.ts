import { originKey } from '../shared/http-config.ts';
import type { Connector, RateLimits } from '../types.ts';
import { createWebhookClient, maxWebhookBytes } from './client.ts';
import { type WebhookConfig, webhookConfigSchema, webhookSecretFields } from './config.ts';

/**
 * Receivers are the user's own servers with no published limits; these defaults are gentle enough for
 * a small service and can be raised per destination with `limits`.
 */
const defaultLimits: RateLimits = { requestsPerInterval: 20, intervalMs: 1000, maxConcurrent: 4 };

export const webhookConnector: Connector<WebhookConfig> = {
  kind: 'webhook',
  label: 'Webhook (Standard Webhooks)',
  configSchema: webhookConfigSchema,
  secretFields: webhookSecretFields,
  capabilities: (config) => ({
    modes: ['upsert', 'update', 'insert', 'mirror'],
    objects: 'any',
    identifier: 'optional',
    maxBatchRecords: config.batchSize,
    maxBatchBytes: maxWebhookBytes,
  }),
  limits: (config) => config.limits ?? defaultLimits,
  credentialKey: (config) => originKey('webhook', config.url),
  create: (config, deps) => createWebhookClient(config, deps),
};

export { classifyError } from './classify.ts';
export { buildRecordEvent } from './client.ts';
export { batchWebhookId, parseSigningSecret, signWebhook, webhookIdFor } from './sign.ts';
