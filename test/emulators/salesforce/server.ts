import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { handleBulk, type IngestJob } from './bulk.ts';
import { Org, type SaveResult, type SObjectDef, type SObjectRecord, standardObjects } from './org.ts';
import { handleRest, type RestContext } from './rest.ts';

/**
 * A local Salesforce that speaks the wire protocol jsforce uses: REST sObject Collections, SOQL
 * queries, describes, limits, OAuth refresh and Bulk API 2.0 ingest. Tests assert on its records.
 */

export interface SalesforceFaults {
  /** Share of API requests answered 503 SERVER_UNAVAILABLE. */
  serverErrorRate?: number;
  /** Share of API requests applied and then never answered (the socket is closed after `hangMs`). */
  timeoutRate?: number;
  /** Share of records failing with the transient UNABLE_TO_LOCK_ROW. */
  recordErrorRate?: number;
  hangMs?: number;
}

export interface SalesforceEmulatorOptions {
  objects?: SObjectDef[];
  /** How long an access token lives; default: forever. */
  tokenTtlMs?: number;
  dailyApiLimit?: number;
  faults?: SalesforceFaults;
  latencyMs?: number;
  seed?: number;
}

export interface SalesforceEmulator {
  url: string;
  accessToken: string;
  refreshToken: string;
  clientId: string;
  clientSecret: string;
  org: Org;
  records(type: string): SObjectRecord[];
  /** Invalidates every access token issued so far. */
  expireTokens(): void;
  setFaults(faults: SalesforceFaults): void;
  apiUsage(): { used: number; limit: number };
  setApiUsage(used: number): void;
  /** Method and path of every request, in arrival order. */
  requests: string[];
  /** Each Bulk CSV upload: whether it came chunked (no Content-Length), as jsforce streams it. */
  bulkUploads: { chunked: boolean; contentType: string }[];
  /** How many faults of each kind were injected. */
  faultCounts: { serverErrors: number; timeouts: number; recordErrors: number };
  refreshCount(): number;
  close(): Promise<void>;
}

export async function startSalesforceEmulator(
  options: SalesforceEmulatorOptions = {},
): Promise<SalesforceEmulator> {
  const org = new Org(options.objects ?? standardObjects);
  const tokens = new Map<string, number>();
  const clientId = 'ebb-test-client';
  const clientSecret = randomUUID();
  const refreshToken = randomUUID();
  const jobs = new Map<string, IngestJob>();
  const requests: string[] = [];
  const bulkUploads: { chunked: boolean; contentType: string }[] = [];
  const faultCounts = { serverErrors: 0, timeouts: 0, recordErrors: 0 };
  const sockets = new Set<Socket>();
  const limit = options.dailyApiLimit ?? 100_000;
  let used = 0;
  let refreshes = 0;
  let faults: SalesforceFaults = options.faults ?? {};
  let seed = options.seed ?? 1;
  const random = () => {
    // mulberry32: reproducible fault injection for a given seed.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const shuffle = <T>(items: T[]): T[] => {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [a[i], a[j]] = [a[j] as T, a[i] as T];
    }
    return a;
  };
  const issue = () => {
    const token = `00D!${randomUUID()}`;
    tokens.set(token, options.tokenTtlMs ? Date.now() + options.tokenTtlMs : Number.POSITIVE_INFINITY);
    return token;
  };
  const accessToken = issue();
  const recordFault = (): SaveResult | null =>
    random() < (faults.recordErrorRate ?? 0) && ++faultCounts.recordErrors > 0
      ? {
          success: false,
          errors: [
            {
              statusCode: 'UNABLE_TO_LOCK_ROW',
              message: 'unable to obtain exclusive access to this record',
              fields: [],
            },
          ],
        }
      : null;

  const restContext: RestContext = { org, recordFault, usage: () => ({ used, limit }) };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(res, 500, [{ errorCode: 'UNKNOWN_EXCEPTION', message: String(error) }]);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    if (res.headersSent) return;
    const text = body === undefined ? '' : type === 'application/json' ? JSON.stringify(body) : String(body);
    res.writeHead(status, {
      'Content-Type': `${type};charset=UTF-8`,
      'Sforce-Limit-Info': `api-usage=${used}/${limit}`,
    });
    res.end(text);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', url);
    const method = req.method ?? 'GET';
    requests.push(`${method} ${u.pathname}`);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));

    if (u.pathname === '/services/oauth2/token' && method === 'POST') {
      const form = new URLSearchParams(raw);
      const ok =
        form.get('grant_type') === 'refresh_token' &&
        form.get('refresh_token') === refreshToken &&
        form.get('client_id') === clientId &&
        form.get('client_secret') === clientSecret;
      if (!ok)
        return send(res, 400, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
      refreshes += 1;
      return send(res, 200, {
        access_token: issue(),
        instance_url: url,
        id: `${url}/id/00D000000000001AAA/005000000000001AAA`,
        token_type: 'Bearer',
        issued_at: String(Date.now()),
        signature: 'emulator',
      });
    }
    const m = /^\/services\/data\/v(\d+\.\d)(\/.*)$/.exec(u.pathname);
    if (!m)
      return send(res, 404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    const version = m[1] ?? '62.0';
    const path = m[2] ?? '/';
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    if ((tokens.get(token) ?? 0) < Date.now()) {
      return send(res, 401, [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }]);
    }
    if (used >= limit) {
      return send(res, 403, [
        { message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' },
      ]);
    }
    used += 1;
    const faultable = method !== 'GET' || path.startsWith('/query');
    if (faultable && random() < (faults.serverErrorRate ?? 0)) {
      faultCounts.serverErrors += 1;
      return send(res, 503, [{ errorCode: 'SERVER_UNAVAILABLE', message: 'Server temporarily unavailable' }]);
    }
    const hang = faultable && method !== 'PUT' && random() < (faults.timeoutRate ?? 0);
    let body: unknown = null;
    if (raw && (req.headers['content-type'] ?? '').includes('json')) {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(res, 400, [
          { errorCode: 'JSON_PARSER_ERROR', message: 'Unexpected character in request body' },
        ]);
      }
    }
    if (method === 'PUT' && path.endsWith('/batches')) {
      bulkUploads.push({
        chunked:
          req.headers['transfer-encoding'] === 'chunked' && req.headers['content-length'] === undefined,
        contentType: req.headers['content-type'] ?? '',
      });
    }
    const reply = path.startsWith('/jobs/ingest')
      ? handleBulk(jobs, org, recordFault, shuffle, { method, path, body, raw, version })
      : handleRest(restContext, method, path, u, body);
    if (hang) {
      faultCounts.timeouts += 1;
      // The change is applied and the answer lost: the client must not create a second record.
      setTimeout(() => res.socket?.destroy(), faults.hangMs ?? 30_000).unref();
      return;
    }
    send(res, reply.status, reply.body, reply.type);
  }

  return {
    url,
    accessToken,
    refreshToken,
    clientId,
    clientSecret,
    org,
    records: (type) => org.records(type),
    expireTokens: () => tokens.clear(),
    setFaults: (next) => {
      faults = next;
    },
    apiUsage: () => ({ used, limit }),
    setApiUsage: (next) => {
      used = next;
    },
    requests,
    faultCounts,
    bulkUploads,
    refreshCount: () => refreshes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}
