import { resolveSafeAddress } from '../shared/ssrf.ts';
import type { Connector, DestinationClient } from '../types.ts';
import { type HubspotConfig, hubspotConfigSchema, hubspotCredentialKey, hubspotLimits } from './config.ts';
import { listObjects, testConnection } from './discover.ts';
import { createHubspotApis } from './sdk.ts';
import { maxBatchInputs, writeBatch } from './write.ts';

/**
 * `basePath` exists for emulators and proxies; pointed at a private address it would let an API user
 * reach internal services (SSRF), so it needs the operator's EBB_ALLOW_PRIVATE_NETWORK. Checked once per
 * client, before the first request. The default HubSpot host is not checked.
 */
function basePathGuard(
  config: HubspotConfig,
  allowPrivateNetwork: boolean,
): () => Promise<string | undefined> {
  const { basePath } = config;
  if (!basePath) return async () => undefined;
  let verdict: Promise<string | undefined> | undefined;
  return () => {
    verdict ??= resolveSafeAddress(new URL(basePath).hostname, { allowPrivateNetwork }).then((result) =>
      result.ok ? undefined : `basePath ${basePath} refused: ${result.reason}`,
    );
    return verdict;
  };
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
    const refused = basePathGuard(config, deps.allowPrivateNetwork);
    const apis = createHubspotApis(config);
    return {
      async test() {
        const reason = await refused();
        return reason ? { ok: false, message: reason } : testConnection(apis);
      },
      async listObjects() {
        const reason = await refused();
        if (reason) throw new Error(reason);
        return listObjects(apis, deps.logger);
      },
      async write(batch, context) {
        const reason = await refused();
        if (reason) return { ok: false, failure: { kind: 'fatal', reason } };
        return writeBatch(apis, batch, context);
      },
      close: async () => apis.close(),
    };
  },
};
