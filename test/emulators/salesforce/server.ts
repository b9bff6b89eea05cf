import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type IngestJob, jobInfo, newJob, processJob, writeCsv } from './bulk.ts';
import { Org, type SaveResult, type SObjectDef, type SObjectRecord, standardObjects } from './org.ts';
import { runSoql } from './soql.ts';

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
    const reply = route(method, path, u, body, raw, version);
    if (hang) {
      faultCounts.timeouts += 1;
      // The change is applied and the answer lost: the client must not create a second record.
      setTimeout(() => res.socket?.destroy(), faults.hangMs ?? 30_000).unref();
      return;
    }
    send(res, reply.status, reply.body, reply.type);
  }

  function route(
    method: string,
    path: string,
    u: URL,
    body: unknown,
    raw: string,
    version: string,
  ): { status: number; body?: unknown; type?: string } {
    if (path === '/limits' && method === 'GET') {
      return {
        status: 200,
        body: { DailyApiRequests: { Max: limit, Remaining: Math.max(0, limit - used) } },
      };
    }
    if (path === '/sobjects' && method === 'GET') {
      const sobjects = [...org.objects.values()].map((o) => ({
        name: o.name,
        label: o.name,
        createable: true,
        updateable: true,
        queryable: true,
        deletable: true,
        custom: o.name.endsWith('__c'),
        customSetting: false,
        deprecatedAndHidden: false,
        keyPrefix: o.prefix,
      }));
      return { status: 200, body: { encoding: 'UTF-8', maxBatchSize: 200, sobjects } };
    }
    const describe = /^\/sobjects\/(\w+)\/describe$/.exec(path);
    if (describe && method === 'GET') {
      const def = org.objects.get(describe[1] ?? '');
      if (!def)
        return {
          status: 404,
          body: [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }],
        };
      const fields = def.fields.map((f) => ({
        name: f.name,
        label: f.name.replace(/__c$/, '').replace(/_/g, ' '),
        type: f.type,
        nillable: !f.required && f.type !== 'id',
        createable: f.type !== 'id',
        updateable: f.type !== 'id',
        defaultedOnCreate: f.type === 'id' || f.type === 'boolean',
        externalId: f.externalId ?? false,
        unique: f.externalId ?? false,
        idLookup: f.type === 'id' || (f.externalId ?? false),
      }));
      return { status: 200, body: { name: def.name, label: def.name, keyPrefix: def.prefix, fields } };
    }
    if (path === '/query' && method === 'GET') return runSoql(org, u.searchParams.get('q') ?? '');
    const collection = /^\/composite\/sobjects(?:\/(\w+)\/(\w+))?$/.exec(path);
    if (collection) return handleCollection(method, collection[1], collection[2], u, body);
    if (path.startsWith('/jobs/ingest')) return handleBulk(method, path, body, raw, version);
    return {
      status: 404,
      body: [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }],
    };
  }

  function handleCollection(
    method: string,
    type: string | undefined,
    extField: string | undefined,
    u: URL,
    body: unknown,
  ) {
    if (method === 'DELETE') {
      const ids = (u.searchParams.get('ids') ?? '').split(',').filter(Boolean);
      if (ids.length > 200) return tooMany();
      return {
        status: 200,
        body: dml(u.searchParams.get('allOrNone') === 'true', ids, (id) => org.delete(null, id)),
      };
    }
    const payload = body as { allOrNone?: boolean; records?: Record<string, unknown>[] } | null;
    if (!payload || !Array.isArray(payload.records)) {
      return { status: 400, body: [{ errorCode: 'JSON_PARSER_ERROR', message: 'records is required' }] };
    }
    if (payload.records.length > 200) return tooMany();
    for (const r of payload.records) {
      const t = type ?? (r.attributes as { type?: string } | undefined)?.type ?? '';
      if (!org.objects.has(t))
        return {
          status: 400,
          body: [{ errorCode: 'INVALID_TYPE', message: `sObject type '${t}' is not supported.` }],
        };
      const unknown = org.unknownField(t, r);
      if (unknown) {
        return {
          status: 400,
          body: [
            { errorCode: 'INVALID_FIELD', message: `No such column '${unknown}' on sobject of type ${t}` },
          ],
        };
      }
    }
    const fieldsOf = (r: Record<string, unknown>) => {
      const { attributes, id, Id, ...rest } = r;
      return rest as SObjectRecord;
    };
    const typeOf = (r: Record<string, unknown>) => type ?? (r.attributes as { type: string }).type;
    const apply = (r: Record<string, unknown>): SaveResult => {
      if (method === 'POST' && !type) return org.create(typeOf(r), fieldsOf(r));
      if (method === 'PATCH' && !type) return org.update(typeOf(r), String(r.id ?? ''), fieldsOf(r));
      if (method === 'PATCH' && type && extField) return org.upsert(type, extField, fieldsOf(r));
      return { success: false, errors: [{ statusCode: 'METHOD_NOT_ALLOWED', message: method, fields: [] }] };
    };
    return { status: 200, body: dml(payload.allOrNone === true, payload.records, apply) };
  }

  /** One result per input, in input order; allOrNone rolls every change back if any record fails. */
  function dml<T>(allOrNone: boolean, inputs: T[], apply: (input: T) => SaveResult): SaveResult[] {
    const saved = allOrNone ? org.snapshot() : null;
    const results = inputs.map((input) => recordFault() ?? apply(input));
    if (saved && results.some((r) => !r.success)) {
      org.restore(saved);
      return results.map((r) =>
        r.success
          ? {
              success: false,
              errors: [
                {
                  statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK',
                  message:
                    'Record rolled back because not all records were valid and the request was using AllOrNone header',
                  fields: [],
                },
              ],
            }
          : r,
      );
    }
    return results;
  }

  function tooMany() {
    return {
      status: 400,
      body: [
        {
          errorCode: 'EXCEEDED_ID_LIMIT',
          message: 'record limit reached. cannot submit more than 200 records into this call',
        },
      ],
    };
  }

  function handleBulk(method: string, path: string, body: unknown, raw: string, version: string) {
    const notFound = {
      status: 404,
      body: [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }],
    };
    if (path === '/jobs/ingest' && method === 'POST') {
      const job = newJob((body ?? {}) as Record<string, unknown>);
      if (typeof job === 'string') return { status: 400, body: [{ errorCode: 'INVALIDJOB', message: job }] };
      jobs.set(job.id, job);
      return { status: 200, body: jobInfo(job, version) };
    }
    const m = /^\/jobs\/ingest\/(\w+)(\/\w+)?$/.exec(path);
    const job = jobs.get(m?.[1] ?? '');
    if (!m || !job) return notFound;
    const sub = m[2];
    if (sub === '/batches' && method === 'PUT') {
      if (job.state !== 'Open')
        return { status: 409, body: [{ errorCode: 'INVALIDJOBSTATE', message: 'Job is not open' }] };
      job.csv += raw;
      return { status: 201, body: undefined, type: 'text/plain' };
    }
    if (!sub && method === 'PATCH') {
      const state = (body as { state?: string } | null)?.state;
      if (state === 'UploadComplete' && job.state === 'Open') job.state = 'UploadComplete';
      else if (state === 'Aborted' && ['Open', 'UploadComplete', 'InProgress'].includes(job.state))
        job.state = 'Aborted';
      else
        return {
          status: 409,
          body: [{ errorCode: 'INVALIDJOBSTATE', message: `cannot move a ${job.state} job to ${state}` }],
        };
      return { status: 200, body: jobInfo(job, version) };
    }
    if (!sub && method === 'GET') {
      // Processing happens between polls, so a client always sees InProgress once.
      if (job.state === 'InProgress') processJob(job, org, recordFault, shuffle);
      else if (job.state === 'UploadComplete') job.state = 'InProgress';
      return { status: 200, body: jobInfo(job, version) };
    }
    if (!sub && method === 'DELETE') {
      jobs.delete(job.id);
      return { status: 204, body: undefined, type: 'text/plain' };
    }
    if (method === 'GET' && sub === '/successfulResults') {
      return {
        status: 200,
        body: writeCsv([['sf__Id', 'sf__Created', ...job.header], ...job.successful]),
        type: 'text/csv',
      };
    }
    if (method === 'GET' && sub === '/failedResults') {
      return {
        status: 200,
        body: writeCsv([['sf__Id', 'sf__Error', ...job.header], ...job.failed]),
        type: 'text/csv',
      };
    }
    if (method === 'GET' && sub === '/unprocessedrecords') {
      return { status: 200, body: writeCsv([job.header, ...job.unprocessed]), type: 'text/csv' };
    }
    return notFound;
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
    refreshCount: () => refreshes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}
