import { isIP } from 'node:net';
import type { Capabilities, Connector } from '../types.ts';
import { createSalesforceClient } from './client.ts';
import {
  collectionMaxRecords,
  type SalesforceConfig,
  salesforceConfigSchema,
  salesforceCredentialKey,
  salesforceLimits,
  salesforceSecretFields,
} from './config.ts';

export { classifyError } from './classify-error.ts';
export { type SalesforceConfig, salesforceConfigSchema } from './config.ts';

/**
 * The engine hands a connector one batch at a time and never the whole plan. Without
 * `bulkThreshold` batches are capped at 200, one sObject Collections call each. With it, batches may
 * grow to `bulkBatchRecords`; a batch of at least `bulkThreshold` records becomes one Bulk API 2.0
 * job, and a smaller one (a small plan, the tail of a large one, or halves the engine split off)
 * goes through Collections, 200 records per call.
 */
function capabilities(config: SalesforceConfig): Capabilities {
  const bulk = config.bulkThreshold !== undefined;
  return {
    modes: ['upsert', 'update', 'insert', 'mirror'],
    objects: 'discover',
    identifier: 'optional',
    maxBatchRecords: bulk
      ? Math.max(config.bulkBatchRecords, config.bulkThreshold ?? 0)
      : collectionMaxRecords,
    // Collections requests are JSON bodies Salesforce caps in the low megabytes; a Bulk 2.0 upload
    // may be 100 MB of raw CSV (150 MB once Salesforce base64-encodes it).
    maxBatchBytes: bulk ? 100 * 1024 * 1024 : 6 * 1024 * 1024,
  };
}

/** SSRF guard on the literal host; a name is resolved by the HTTP stack, not here. */
function privateHostReason(instanceUrl: string, loginUrl: string | undefined): string | null {
  for (const raw of [instanceUrl, loginUrl]) {
    if (!raw) continue;
    const host = new URL(raw).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const privateHost =
      host === 'localhost' ||
      host.endsWith('.localhost') ||
      (isIP(host) === 4 && /^(127\.|10\.|0\.|169\.254\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(host)) ||
      (isIP(host) === 6 && /^(::1?$|fc|fd|fe80:)/.test(host));
    if (privateHost)
      return `${raw} is a private or loopback address; set EBB_ALLOW_PRIVATE_NETWORK to allow it`;
  }
  return null;
}

/** Registered in `connectors/index.ts` through `defineConnector` (imported there, not here, to avoid a cycle). */
export const salesforceConnector: Connector<SalesforceConfig> = {
  kind: 'salesforce',
  label: 'Salesforce',
  configSchema: salesforceConfigSchema,
  secretFields: salesforceSecretFields,
  capabilities,
  limits: salesforceLimits,
  credentialKey: salesforceCredentialKey,
  create(config, deps) {
    const blocked = deps.allowPrivateNetwork ? null : privateHostReason(config.instanceUrl, config.loginUrl);
    return createSalesforceClient(config, blocked);
  },
};
