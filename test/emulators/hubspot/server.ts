import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  archive,
  type BatchEnv,
  create,
  type Reply,
  read,
  requestError,
  update,
  upsert,
  type Validator,
} from './batch.ts';
import { CrmStore, type ObjectTypeDefinition, standardObjectTypes } from './crm-store.ts';
import { createRng, type Rng } from './rng.ts';

/**
 * A local HubSpot that speaks CRM v3 on the wire as `@hubspot/api-client` expects it: Bearer auth, JSON
 * Content-Type on every response (the SDK cannot read an error without it), exact success codes (the
 * SDK 14 throws on any other), shuffled batch results, 207 partial failures, and HubSpot's rate limiting
 * (rolling 10-second window and daily quota) with its 429 body and `X-HubSpot-RateLimit-*` headers.
 * Faults are injected from a seeded generator, so a failing test replays the same way.
 */

export interface HubspotEmulatorOptions {
  accessToken: string;
  seed: number;
  /** Requests allowed per rolling window; null for no limit. */
  rateLimit: { max: number; intervalMs: number } | null;
  /** Requests allowed in total (HubSpot's daily quota); null for no limit. */
  dailyLimit: number | null;
  /** Added before every response, in ms: a fixed value or a seeded uniform range. */
  latencyMs: number | { min: number; max: number };
  faults: {
    /** Share of requests answered with an injected TEN_SECONDLY_ROLLING 429. */
    rate429: number;
    /** Share of requests answered 502/503/500. */
    rate5xx: number;
    /** Share of requests never answered; the write is applied first when `applyBeforeTimeout`. */
    rateTimeout: number;
    applyBeforeTimeout: boolean;
  };
  /** Send Retry-After (seconds) on rate-limit 429s; HubSpot does not document it, so off by default. */
  retryAfterSeconds: number | null;
  rejectWhen?: Validator;
}

export interface HubspotEmulatorStats {
  requests: number;
  byStatus: Record<number, number>;
  /** 429s from the rolling-window limit (not injected ones). */
  rateLimited: number;
  dailyLimited: number;
  injected: { rate429: number; rate5xx: number; timeout: number };
  /** The most requests that arrived within any one rolling window (authenticated requests). */
  maxInWindow: number;
  /** Batch calls by operation, e.g. `contacts/upsert`. */
  batchCalls: Record<string, number>;
  /** performance.now() of the first authenticated request and of the last response, for rates. */
  firstRequestAt: number | null;
  lastResponseAt: number | null;
}

export interface HubspotEmulator {
  url: string;
  options: HubspotEmulatorOptions;
  stats: HubspotEmulatorStats;
  crm: CrmStore;
  /** Live records of one object type, keyed by the given property (e.g. email) for easy comparison. */
  recordsBy(objectType: string, property: string): Map<string, Record<string, string>>;
  resetStats(): void;
  close(): Promise<void>;
}

const freshStats = (): HubspotEmulatorStats => ({
  requests: 0,
  byStatus: {},
  rateLimited: 0,
  dailyLimited: 0,
  injected: { rate429: 0, rate5xx: 0, timeout: 0 },
  maxInWindow: 0,
  batchCalls: {},
  firstRequestAt: null,
  lastResponseAt: null,
});

const batchOps = { create, update, upsert, archive, read } as const;

function rateLimitBody(policyName: 'TEN_SECONDLY_ROLLING' | 'DAILY') {
  return {
    status: 'error',
    message:
      policyName === 'DAILY'
        ? 'You have reached your daily limit.'
        : 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: crypto.randomUUID(),
    policyName,
  };
}

export async function startHubspotEmulator(
  overrides: Partial<HubspotEmulatorOptions> & { objectTypes?: ObjectTypeDefinition[] } = {},
): Promise<HubspotEmulator> {
  const { objectTypes = [], ...rest } = overrides;
  const options: HubspotEmulatorOptions = {
    accessToken: 'test-token',
    seed: 1,
    rateLimit: null,
    dailyLimit: null,
    latencyMs: 0,
    faults: { rate429: 0, rate5xx: 0, rateTimeout: 0, applyBeforeTimeout: true },
    retryAfterSeconds: null,
    ...rest,
  };
  const crm = new CrmStore([...standardObjectTypes, ...objectTypes]);
  const rng: Rng = createRng(options.seed);
  let stats = freshStats();
  const arrivals: number[] = [];
  const admitted: number[] = [];
  let dailyUsed = 0;

  const windowMs = () => options.rateLimit?.intervalMs ?? 10_000;
  const trim = (times: number[], now: number) => {
    while (times.length > 0 && (times[0] ?? 0) <= now - windowMs()) times.shift();
  };
  const limitHeaders = (): Record<string, string> => {
    const headers: Record<string, string> = {};
    if (options.rateLimit) {
      headers['X-HubSpot-RateLimit-Interval-Milliseconds'] = String(options.rateLimit.intervalMs);
      headers['X-HubSpot-RateLimit-Max'] = String(options.rateLimit.max);
      headers['X-HubSpot-RateLimit-Remaining'] = String(Math.max(0, options.rateLimit.max - admitted.length));
    }
    if (options.dailyLimit !== null) {
      headers['X-HubSpot-RateLimit-Daily'] = String(options.dailyLimit);
      headers['X-HubSpot-RateLimit-Daily-Remaining'] = String(Math.max(0, options.dailyLimit - dailyUsed));
    }
    return headers;
  };

  function route(method: string, url: URL, body: unknown): Reply {
    const batch = /^\/crm\/v3\/objects\/([^/]+)\/batch\/(create|update|upsert|archive|read)$/.exec(
      url.pathname,
    );
    const list = /^\/crm\/v3\/objects\/([^/]+)$/.exec(url.pathname);
    const properties = /^\/crm\/v3\/properties\/([^/]+)$/.exec(url.pathname);
    const typeName = decodeURIComponent(batch?.[1] ?? list?.[1] ?? properties?.[1] ?? '');
    const type = crm.type(typeName);
    if ((batch || list || properties) && !type) {
      return requestError(400, 'VALIDATION_ERROR', `Unable to infer object type from: ${typeName}`);
    }
    if (batch && type && method === 'POST') {
      const op = batch[2] as keyof typeof batchOps;
      stats.batchCalls[`${type.name}/${op}`] = (stats.batchCalls[`${type.name}/${op}`] ?? 0) + 1;
      const env: BatchEnv = {
        store: crm,
        type,
        now: new Date().toISOString(),
        shuffle: (items) => rng.shuffle(items),
        rejectWhen: options.rejectWhen,
      };
      return batchOps[op](env, body);
    }
    if (list && type && method === 'GET') {
      const limit = Math.min(100, Number(url.searchParams.get('limit') ?? 10) || 10);
      const results = crm
        .list(type.name)
        .slice(0, limit)
        .map((r) => ({
          id: r.id,
          properties: {},
          createdAt: r.createdAt,
          updatedAt: r.updatedAt,
          archived: false,
        }));
      return { status: 200, body: { results } };
    }
    if (properties && type && method === 'GET') {
      return { status: 200, body: { results: type.properties.map((p) => propertyBody(p)) } };
    }
    if (url.pathname === '/crm-object-schemas/v3/schemas' && method === 'GET') {
      const custom = [...new Set(crm.types.values())].filter((t) => t.objectTypeId);
      const results = custom.map((t) => ({
        id: t.objectTypeId,
        objectTypeId: t.objectTypeId,
        name: t.name,
        fullyQualifiedName: t.name,
        labels: t.labels,
        requiredProperties: [],
        associations: [],
        properties: t.properties.map((p) => propertyBody(p)),
      }));
      return { status: 200, body: { results } };
    }
    return requestError(404, 'OBJECT_NOT_FOUND', `No route for ${method} ${url.pathname}`);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((error: unknown) => {
        send(res, {
          status: 500,
          body: { status: 'error', message: String(error), category: 'INTERNAL_ERROR' },
        });
      });
    });
  });

  function send(res: http.ServerResponse, reply: Reply, headers: Record<string, string> = {}) {
    stats.byStatus[reply.status] = (stats.byStatus[reply.status] ?? 0) + 1;
    stats.lastResponseAt = performance.now();
    // Every response carries a JSON Content-Type, even the 204: the SDK parses errors by it.
    res.writeHead(reply.status, { 'Content-Type': 'application/json;charset=utf-8', ...headers });
    res.end(reply.body === undefined || reply.status === 204 ? undefined : JSON.stringify(reply.body));
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    stats.requests += 1;
    if (req.headers.authorization !== `Bearer ${options.accessToken}`) {
      send(res, {
        status: 401,
        body: {
          status: 'error',
          message: 'Authentication credentials not found.',
          correlationId: crypto.randomUUID(),
          category: 'INVALID_AUTHENTICATION',
        },
      });
      return;
    }
    const now = performance.now();
    stats.firstRequestAt ??= now;
    arrivals.push(now);
    trim(arrivals, now);
    stats.maxInWindow = Math.max(stats.maxInWindow, arrivals.length);
    trim(admitted, now);
    if (options.dailyLimit !== null && dailyUsed >= options.dailyLimit) {
      stats.dailyLimited += 1;
      send(res, { status: 429, body: rateLimitBody('DAILY') }, limitHeaders());
      return;
    }
    if (options.rateLimit && admitted.length >= options.rateLimit.max) {
      stats.rateLimited += 1;
      const retry: Record<string, string> =
        options.retryAfterSeconds === null ? {} : { 'Retry-After': String(options.retryAfterSeconds) };
      send(
        res,
        { status: 429, body: rateLimitBody('TEN_SECONDLY_ROLLING') },
        { ...limitHeaders(), ...retry },
      );
      return;
    }
    admitted.push(now);
    dailyUsed += 1;
    const { faults } = options;
    if (rng.chance(faults.rate429)) {
      stats.injected.rate429 += 1;
      send(res, { status: 429, body: rateLimitBody('TEN_SECONDLY_ROLLING') }, limitHeaders());
      return;
    }
    if (rng.chance(faults.rate5xx)) {
      stats.injected.rate5xx += 1;
      const status = rng.pick([500, 502, 503]);
      send(res, requestError(status, 'INTERNAL_ERROR', 'An internal error occurred.'), limitHeaders());
      return;
    }
    const hang = rng.chance(faults.rateTimeout);
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      send(res, requestError(400, 'VALIDATION_ERROR', 'Invalid input JSON on line 1'), limitHeaders());
      return;
    }
    if (hang) {
      stats.injected.timeout += 1;
      // The response is lost, not the request: the write happened, the client never hears of it.
      if (faults.applyBeforeTimeout) route(req.method ?? 'GET', url, body);
      return;
    }
    const reply = route(req.method ?? 'GET', url, body);
    const latency = options.latencyMs;
    const delay =
      typeof latency === 'number' ? latency : latency.min + rng.next() * (latency.max - latency.min);
    if (delay > 0) await sleep(delay);
    send(res, reply, limitHeaders());
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    options,
    get stats() {
      return stats;
    },
    crm,
    recordsBy(objectType, property) {
      const out = new Map<string, Record<string, string>>();
      for (const record of crm.list(objectType)) {
        const key = record.properties[property];
        if (key !== undefined) out.set(key, record.properties);
      }
      return out;
    },
    resetStats() {
      stats = freshStats();
      arrivals.length = 0;
      admitted.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function propertyBody(p: ObjectTypeDefinition['properties'][number]) {
  return {
    name: p.name,
    label: p.label,
    type: p.type,
    fieldType: p.fieldType,
    description: '',
    groupName: 'contactinformation',
    options: [],
    hasUniqueValue: p.hasUniqueValue,
    hidden: false,
    formField: !p.readOnly,
    calculated: false,
    modificationMetadata: { archivable: true, readOnlyDefinition: true, readOnlyValue: p.readOnly === true },
  };
}
