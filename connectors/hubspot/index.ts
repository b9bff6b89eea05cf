import type { Connector, DestinationClient } from '../types.ts';
import { type HubspotConfig, hubspotConfigSchema, hubspotCredentialKey, hubspotLimits } from './config.ts';
import { listObjects, testConnection } from './discover.ts';
import { createHubspotApis } from './sdk.ts';
import { maxBatchInputs, writeBatch } from './write.ts';

/**
 * `basePath` exists for emulators and proxies; pointed at a private address it would let a user of the
 * API reach internal services (SSRF), so it needs the operator's EBB_ALLOW_PRIVATE_NETWORK.
 */
function refusePrivateBasePath(config: HubspotConfig, allowPrivateNetwork: boolean): string | undefined {
  if (!config.basePath || allowPrivateNetwork) return undefined;
  const host = new URL(config.basePath).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const isPrivate =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^(127|10|0)\./.test(host) ||
    /^192\.168\./.test(host) ||
    /^169\.254\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) ||
    host === '::1' ||
    /^f[cd][0-9a-f]{2}:/.test(host) ||
    /^fe80:/.test(host);
  return isPrivate
    ? `basePath ${config.basePath} is a private address; set EBB_ALLOW_PRIVATE_NETWORK=true to allow it`
    : undefined;
}

export { classifyError } from './classify-error.ts';
export type { HubspotConfig } from './config.ts';

/**
 * HubSpot CRM v3 objects (contacts, companies, deals, tickets, custom objects) through the official
 * `@hubspot/api-client`. One SDK Client per destination client; the engine owns retries and rate limits.
 */
export const hubspotConnector: Connector<HubspotConfig> = {
  kind: 'hubspot',
  label: 'HubSpot',
  configSchema: hubspotConfigSchema,
  secretFields: ['accessToken'],
  capabilities: () => ({
    modes: ['upsert', 'update', 'insert', 'mirror'],
    objects: 'discover',
    // Upsert and mirror need an idProperty; update and insert can go by the record id alone.
    identifier: 'optional',
    maxBatchRecords: maxBatchInputs,
    // HubSpot documents no byte cap for batch calls; its general request-size limit is far above 100
    // records of string properties, so this only bounds memory.
    maxBatchBytes: 4 * 1024 * 1024,
  }),
  limits: hubspotLimits,
  credentialKey: hubspotCredentialKey,
  create(config, deps): DestinationClient {
    const refused = refusePrivateBasePath(config, deps.allowPrivateNetwork);
    if (refused) {
      return {
        test: async () => ({ ok: false, message: refused }),
        write: async () => ({ ok: false, failure: { kind: 'fatal', reason: refused } }),
      };
    }
    const apis = createHubspotApis(config);
    return {
      test: async () => testConnection(apis),
      listObjects: async () => listObjects(apis, deps.logger),
      write: (batch, context) => writeBatch(apis, batch, context),
      close: async () => apis.close(),
    };
  },
};
