import { httpConnector } from './http/index.ts';
import { hubspotConnector } from './hubspot/index.ts';
import { salesforceConnector } from './salesforce/index.ts';
import type { Connector } from './types.ts';
import { webhookConnector } from './webhook/index.ts';

/**
 * Erases a connector's config type for the registry. Safe by construction: the engine and the API
 * only ever call `create`, `limits`, `capabilities` and `credentialKey` with the output of the same
 * connector's `configSchema.parse`.
 */
export function defineConnector<Config>(connector: Connector<Config>): Connector {
  return connector as unknown as Connector;
}

/**
 * Every destination kind Ebb ships. The record is exhaustive over `ConnectorKind`, so a kind that is
 * declared but not wired in fails `tsc`. Each connector lives in its own folder, the only place that
 * imports its vendor SDK.
 */
export const connectorKinds = ['webhook', 'salesforce', 'http', 'hubspot'] as const;
export type ConnectorKind = (typeof connectorKinds)[number];

export const connectors: Record<ConnectorKind, Connector> = {
  webhook: defineConnector(webhookConnector),
  http: defineConnector(httpConnector),
  salesforce: defineConnector(salesforceConnector),
  hubspot: defineConnector(hubspotConnector),
};

export function isConnectorKind(kind: string): kind is ConnectorKind {
  return (connectorKinds as readonly string[]).includes(kind);
}
