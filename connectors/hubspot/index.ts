import { resolveSafeAddress } from '../shared/ssrf.ts';
import type { Connector, DestinationClient } from '../types.ts';
import { type HubspotConfig, hubspotConfigSchema, hubspotCredentialKey, hubspotLimits } from './config.ts';
import { listObjects, testConnection } from './discover.ts';
import { createHubspotApis, type HubspotApis } from './sdk.ts';
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

/** The SDK takes no AbortSignal: an abort drops the client's connections, failing what is in flight. */
async function untilAborted<T>(signal: AbortSignal, apis: HubspotApis, fn: () => Promise<T>): Promise<T> {
  const onAbort = () => apis.abortInFlight();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn();
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
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
      async test(signal) {
        const reason = await refused();
        if (reason) return { ok: false, message: reason };
        const result = await untilAborted(signal, apis, () => testConnection(apis));
        return signal.aborted ? { ok: false, message: 'HubSpot did not answer in time' } : result;
      },
      async listObjects(signal) {
        const reason = await refused();
        if (reason) throw new Error(reason);
        return untilAborted(signal, apis, () => listObjects(apis, deps.logger));
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
