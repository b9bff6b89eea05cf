import http from 'node:http';
import https from 'node:https';
import { Client } from '@hubspot/api-client';
import type { HubspotConfig } from './config.ts';
import { defaultBasePath } from './config.ts';

/**
 * The only place that builds an `@hubspot/api-client` Client. Three SDK behaviours shape it:
 * - Retries stay off (`numberOfApiCallRetries` unset): the engine retries with its own backoff, and the
 *   SDK's retry waits 10 s × attempt on a 429 and logs through console.error.
 * - No `limiterOptions`: the engine holds one Bottleneck limiter per credential across processes.
 * - The retry/limiter decorators live in a process-wide singleton, applied when an API group is first
 *   touched, with the settings of the most recently constructed Client. So every API group this
 *   connector uses is touched right after construction, while our (empty) settings are the current ones.
 * The SDK's fetch has no timeout, so requests go through an agent whose sockets are destroyed after
 * `requestTimeoutMs` without traffic; the SDK then rejects with a network error, which is retried.
 */

type Crm = Client['crm'];
export type ObjectsBatchApi = Crm['objects']['batchApi'];
export type UpsertBody = Parameters<ObjectsBatchApi['upsert']>[1];
export type UpdateBody = Parameters<ObjectsBatchApi['update']>[1];
export type CreateBody = Parameters<ObjectsBatchApi['create']>[1];
export type ArchiveBody = Parameters<ObjectsBatchApi['archive']>[1];
export type ReadBody = Parameters<ObjectsBatchApi['read']>[1];

export interface HubspotApis {
  batch: ObjectsBatchApi;
  objects: Crm['objects']['basicApi'];
  properties: Crm['properties']['coreApi'];
  schemas: Crm['schemas']['coreApi'];
  /** Drops every open connection, failing requests in flight (used when a run is cancelled). */
  abortInFlight(): void;
  close(): void;
}

function createTimeoutAgent(basePath: string, timeoutMs: number): http.Agent {
  const options = { keepAlive: true, timeout: timeoutMs };
  const agent = basePath.startsWith('https:') ? new https.Agent(options) : new http.Agent(options);
  const createConnection = agent.createConnection.bind(agent);
  // The agent's `timeout` keeps every socket's idle timer armed (also across keep-alive reuse) but only
  // destroys idle sockets; a socket waiting on a response is destroyed here.
  agent.createConnection = (connectionOptions, callback) => {
    const socket = createConnection(connectionOptions, callback);
    socket?.on('timeout', () => {
      socket.destroy(new Error(`no response from HubSpot within ${timeoutMs} ms`));
    });
    return socket;
  };
  return agent;
}

export function createHubspotApis(config: HubspotConfig): HubspotApis {
  const basePath = config.basePath ?? defaultBasePath;
  const agent = createTimeoutAgent(basePath, config.requestTimeoutMs);
  const client = new Client({ accessToken: config.accessToken, basePath, httpAgent: agent });
  const apis = {
    batch: client.crm.objects.batchApi,
    objects: client.crm.objects.basicApi,
    properties: client.crm.properties.coreApi,
    schemas: client.crm.schemas.coreApi,
  };
  return {
    ...apis,
    abortInFlight: () => agent.destroy(),
    close: () => agent.destroy(),
  };
}
