import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { type Fault, type FaultOptions, faultAnswer, pickFault, seededRandom } from './faults.ts';

/**
 * A webhook receiver on 127.0.0.1 that behaves like a careful consumer: it verifies Standard Webhooks
 * signatures with the reference library (proving interoperability), refuses stale timestamps (±5 min),
 * deduplicates on `webhook-id`, and keeps the resulting records by key so a test can compare them with
 * the model. In `batch-api` mode it is instead a generic API taking arrays of records and answering
 * per-record results (see batch-api.ts).
 */

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
  webhookId: string | undefined;
  /** What the receiver answered; null when it held the request (timeout). */
  status: number | null;
}

export interface ReceiverStats {
  requests: number;
  applied: number;
  duplicates: number;
  badSignatures: number;
  staleTimestamps: number;
  faults: number;
}

export interface HandlerResult {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

/** A request's meaning for a given mode: which keys it carries, and how to apply it. */
export interface RequestHandler {
  keysOf(json: unknown): string[];
  apply(json: unknown, state: Map<string, unknown>, headers: http.IncomingHttpHeaders): HandlerResult;
}

export interface ReceiverOptions {
  /** `whsec_` secret(s); when set, unsigned or wrongly signed requests get 401. */
  secrets?: string[];
  faults?: FaultOptions;
  handler?: RequestHandler;
  /** Deduplicate on `webhook-id` (webhooks); off for batch APIs, which are keyed by record. */
  dedupe?: boolean;
}

export interface WebhookReceiver {
  url: string;
  /** The records as the receiver holds them, by key: upserts applied, deletes removed. */
  state: Map<string, unknown>;
  requests: ReceivedRequest[];
  stats: ReceiverStats;
  /** Ids delivered again after they had been applied: each one should be in `unansweredIds`. */
  duplicateIds: string[];
  /** Ids applied but never answered 2xx (held until the sender timed out). */
  unansweredIds: Set<string>;
  setFaults(faults: FaultOptions): void;
  close(): Promise<void>;
}

/** Single events `{ operation, key, data }` and batches `{ type: 'ebb.batch', records: [...] }`. */
export const webhookEventHandler: RequestHandler = {
  keysOf(json) {
    return eventsOf(json).flatMap((e) => (typeof e.key === 'string' ? [e.key] : []));
  },
  apply(json, state) {
    for (const event of eventsOf(json)) {
      if (typeof event.key !== 'string') continue;
      if (event.operation === 'delete') state.delete(event.key);
      else state.set(event.key, event.data ?? null);
    }
    return { status: 200, body: '{"ok":true}' };
  },
};

function eventsOf(json: unknown): Record<string, unknown>[] {
  if (!isObject(json)) return [];
  if (json.type === 'ebb.batch' && Array.isArray(json.records)) return json.records.filter(isObject);
  return [json];
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function startWebhookReceiver(options: ReceiverOptions = {}): Promise<WebhookReceiver> {
  const verifier = options.secrets?.map((s) => new Webhook(s));
  const handler = options.handler ?? webhookEventHandler;
  const dedupe = options.dedupe ?? true;
  let faults: FaultOptions = options.faults ?? {};
  let random = seededRandom(faults.seed ?? 1);
  const state = new Map<string, unknown>();
  const applied = new Set<string>();
  const requests: ReceivedRequest[] = [];
  const stats: ReceiverStats = {
    requests: 0,
    applied: 0,
    duplicates: 0,
    badSignatures: 0,
    staleTimestamps: 0,
    faults: 0,
  };
  const duplicateIds: string[] = [];
  const unansweredIds = new Set<string>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const record: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json: parseJson(body),
        webhookId: headerValue(req.headers['webhook-id']),
        status: null,
      };
      requests.push(record);
      stats.requests += 1;
      const answer = (result: HandlerResult) => {
        record.status = result.status;
        res.writeHead(result.status, { 'content-type': 'text/plain', ...result.headers });
        res.end(result.body);
      };
      const respond = () => {
        const result = decide(record);
        if (result) answer(result);
      };
      if (faults.latencyMs) setTimeout(respond, faults.latencyMs);
      else respond();
    });
  });

  function verify(request: ReceivedRequest): HandlerResult | null {
    if (!verifier) return null;
    const headers = {
      'webhook-id': headerValue(request.headers['webhook-id']) ?? '',
      'webhook-timestamp': headerValue(request.headers['webhook-timestamp']) ?? '',
      'webhook-signature': headerValue(request.headers['webhook-signature']) ?? '',
    };
    let lastError = 'No matching signature found';
    for (const webhook of verifier) {
      try {
        webhook.verify(request.body, headers);
        return null;
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        lastError = error.message;
      }
    }
    if (/timestamp/i.test(lastError)) {
      stats.staleTimestamps += 1;
      return { status: 400, body: lastError };
    }
    stats.badSignatures += 1;
    return { status: 401, body: lastError };
  }

  /** The answer to one request, or null to hold it open (an injected timeout). */
  function decide(request: ReceivedRequest): HandlerResult | null {
    const refused = verify(request);
    if (refused) return refused;
    const id = request.webhookId;
    const fault: Fault | null = pickFault(faults, handler.keysOf(request.json), random);
    if (fault === 'timeout') {
      stats.faults += 1;
      if ((faults.timeoutApplies ?? true) && !(dedupe && id && applied.has(id))) {
        applyOnce(request);
        if (id) unansweredIds.add(id);
      }
      // Held open: the sender's own timeout ends it, or close() does.
      return null;
    }
    if (fault) {
      stats.faults += 1;
      return faultAnswer(fault, faults.retryAfterSeconds);
    }
    if (dedupe && id && applied.has(id)) {
      stats.duplicates += 1;
      duplicateIds.push(id);
      return { status: 200, body: '{"ok":true,"duplicate":true}' };
    }
    return applyOnce(request);
  }

  function applyOnce(request: ReceivedRequest): HandlerResult {
    const result = handler.apply(request.json, state, request.headers);
    if (result.status >= 200 && result.status < 300) {
      stats.applied += 1;
      if (request.webhookId) applied.add(request.webhookId);
    }
    return result;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    requests,
    stats,
    duplicateIds,
    unansweredIds,
    setFaults(next) {
      faults = next;
      random = seededRandom(next.seed ?? 1);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
