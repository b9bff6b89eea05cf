import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { type ResolvedAddress, type ResolveResult, resolveSafeAddress } from './ssrf.ts';

/**
 * One HTTP request to a user-supplied URL, through the SSRF guard. Built on `node:http` rather than
 * fetch because its `lookup` hook lets the socket connect to exactly the address the guard checked,
 * and because it never follows redirects (a 3xx is a failure for webhooks, per Standard Webhooks).
 */

export interface HttpRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  signal: AbortSignal;
  allowPrivateNetwork: boolean;
  /** Bodies past this many bytes are cut off: enough for any error text or per-record results. */
  maxResponseBytes?: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  text: string;
}

export type HttpFailureKind = 'blocked' | 'timeout' | 'network' | 'aborted';

export type HttpResult =
  | { ok: true; response: HttpResponse }
  | { ok: false; kind: HttpFailureKind; message: string };

export interface HttpSender {
  send(request: HttpRequest): Promise<HttpResult>;
  close(): void;
}

const defaultMaxResponseBytes = 4 * 1024 * 1024;

function pinnedLookup(pinned: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const [first] = pinned;
    if (options.all) callback(null, pinned);
    else if (first) callback(null, first.address, first.family);
    else callback(Object.assign(new Error('no checked address'), { code: 'ENOTFOUND' }), '', 4);
  };
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * A sender with keep-alive agents of its own, so a run reuses connections to one endpoint. Pooled
 * sockets were opened to a checked address, so reusing them keeps the guard's promise.
 */
export function createHttpSender(): HttpSender {
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 32 }),
  };
  // Checked answers are reused briefly: getaddrinfo runs on libuv's small thread pool, and one lookup
  // per delivery would throttle a busy run. Connecting to a cached checked address stays safe.
  const resolved = new Map<string, { at: number; result: ResolveResult }>();
  const resolve: Resolver = async (hostname, options) => {
    const key = `${options.allowPrivateNetwork}:${hostname}`;
    const hit = resolved.get(key);
    if (hit && Date.now() - hit.at < dnsCacheMs) return hit.result;
    const result = await resolveSafeAddress(hostname, options);
    if (result.ok) {
      if (resolved.size >= 1000) resolved.clear();
      resolved.set(key, { at: Date.now(), result });
    }
    return result;
  };
  return {
    send: (request) => sendWith(agents, resolve, request),
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

type Resolver = typeof resolveSafeAddress;

const dnsCacheMs = 30_000;

async function sendWith(
  agents: { http: http.Agent; https: https.Agent },
  resolve: Resolver,
  request: HttpRequest,
): Promise<HttpResult> {
  const { url } = request;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, kind: 'blocked', message: `unsupported protocol ${url.protocol}` };
  }
  if (request.signal.aborted) return { ok: false, kind: 'aborted', message: 'the request was cancelled' };
  const started = Date.now();
  const resolved = await withinDeadline(
    resolve(url.hostname, { allowPrivateNetwork: request.allowPrivateNetwork }),
    request.timeoutMs,
  );
  if (resolved === 'timeout') return timedOut(request.timeoutMs);
  if (!resolved.ok) {
    // A refused address is final until the URL changes; a failed lookup may be a passing DNS outage.
    return { ok: false, kind: resolved.kind === 'refused' ? 'blocked' : 'network', message: resolved.reason };
  }
  const remaining = request.timeoutMs - (Date.now() - started);
  if (remaining <= 0) return timedOut(request.timeoutMs);

  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const options: https.RequestOptions = {
    method: request.method,
    host,
    port: url.port === '' ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    headers: { ...request.headers, 'content-length': String(request.body.length) },
    agent: secure ? agents.https : agents.http,
    lookup: pinnedLookup(resolved.addresses),
    // The certificate is checked against the name the user typed, not the pinned address.
    servername: secure && isIP(host) === 0 ? host : undefined,
  };
  const maxBytes = request.maxResponseBytes ?? defaultMaxResponseBytes;

  return new Promise<HttpResult>((resolve) => {
    let settled = false;
    const finish = (result: HttpResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const req = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size >= maxBytes) return;
        chunks.push(chunk.subarray(0, maxBytes - size));
        size += chunk.length;
      });
      res.on('end', () =>
        finish({
          ok: true,
          response: {
            status: res.statusCode ?? 0,
            headers: flattenHeaders(res.headers),
            text: Buffer.concat(chunks).toString('utf8'),
          },
        }),
      );
      res.on('error', (error) => finish({ ok: false, kind: 'network', message: error.message }));
    });
    const timer = setTimeout(() => {
      finish(timedOut(request.timeoutMs));
      req.destroy();
    }, remaining);
    const onAbort = () => {
      finish({ ok: false, kind: 'aborted', message: 'the request was cancelled' });
      req.destroy();
    };
    request.signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        kind: 'network',
        message: error.code ? `${error.code}: ${error.message}` : error.message,
      }),
    );
    req.end(request.body);
  });
}

/** A slow resolver counts against the request's own timeout, so a lookup cannot hang a delivery. */
async function withinDeadline<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function timedOut(timeoutMs: number): HttpResult {
  return { ok: false, kind: 'timeout', message: `no response within ${timeoutMs} ms` };
}

/** Response text short enough to keep as a record's reason. */
export function truncateText(text: string, max = 500): string {
  const flat = text.trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** A response's status and (truncated) text, as a record's or a batch's reason. */
export function describeResponse(status: number, text: string): string {
  const body = truncateText(text);
  return body === '' ? `HTTP ${status}` : `HTTP ${status}: ${body}`;
}

/**
 * The verdict on a request that got no response, the same for every HTTP connector: a refused address
 * is fatal (only configuration can fix it); timeouts, network errors and aborts are retried.
 */
export function classifyTransportFailure(
  result: Extract<HttpResult, { ok: false }>,
): { kind: 'fatal'; reason: string } | { kind: 'retry'; reason: string } {
  switch (result.kind) {
    case 'blocked':
      return { kind: 'fatal', reason: result.message };
    case 'timeout':
      return { kind: 'retry', reason: `timeout: ${result.message}` };
    case 'network':
      return { kind: 'retry', reason: `network error: ${result.message}` };
    case 'aborted':
      return { kind: 'retry', reason: result.message };
  }
}
