import { version } from '../../src/version.ts';
import type { HttpSender } from '../shared/http-request.ts';
import { createHttpSender, truncateText } from '../shared/http-request.ts';
import { applyFieldTemplate, type PlaceResult, placeFields } from '../shared/template.ts';
import type {
  ConnectorDeps,
  DestinationClient,
  Json,
  PlannedChange,
  RecordOutcome,
  WriteResult,
} from '../types.ts';
import { classifyError } from './classify.ts';
import type { HttpConfig } from './config.ts';
import { matchResults } from './results.ts';

/** One record as the API receives it (the shape is documented in config.ts). */
export function buildRecord(change: PlannedChange, record: HttpConfig['record']): PlaceResult {
  const envelope: Record<string, Json> = { [record.keyField]: change.key };
  if (record.operationField !== null) envelope[record.operationField] = change.operation;
  const fields = change.operation === 'delete' ? {} : applyFieldTemplate(change.fields, record.fields ?? {});
  return placeFields(envelope, fields, record.wrap, record.fields?.static);
}

export function buildBody(config: HttpConfig, records: Json[]): Json {
  if (config.body === 'array') return records;
  return { ...(config.body.static ?? {}), [config.body.recordsKey]: records };
}

export function createHttpClient(config: HttpConfig, deps: ConnectorDeps): DestinationClient {
  const url = new URL(config.url);
  let sender: HttpSender | null = null;
  const headers = (): Record<string, string> => ({
    'user-agent': `Ebb/${version}`,
    ...config.headers,
    ...config.secretHeaders,
    ...(config.authorization ? { [config.authorizationHeader]: config.authorization } : {}),
    'content-type': 'application/json',
  });

  return {
    /**
     * A batch API has no side-effect-free ping, so the test is a HEAD: any answer but an auth refusal
     * or a server error shows the URL is reachable (405 is normal for a POST-only endpoint).
     */
    async test(signal) {
      sender ??= createHttpSender();
      const result = await sender.send({
        url,
        method: 'HEAD',
        headers: headers(),
        body: Buffer.alloc(0),
        timeoutMs: config.timeoutMs,
        signal,
        allowPrivateNetwork: deps.allowPrivateNetwork,
      });
      if (!result.ok) return { ok: false, message: result.message };
      const { status, text } = result.response;
      if (status === 401 || status === 403) {
        return {
          ok: false,
          message: `the API refused the credentials: HTTP ${status} ${truncateText(text)}`.trim(),
        };
      }
      if (status >= 500)
        return { ok: false, message: `the API answered HTTP ${status} ${truncateText(text)}`.trim() };
      return { ok: true, message: `reached the API (HTTP ${status})` };
    },

    async write(batch, context): Promise<WriteResult> {
      const outcomes: RecordOutcome[] = [];
      const sendable: PlannedChange[] = [];
      const records: Json[] = [];
      for (const change of batch) {
        const built = buildRecord(change, config.record);
        if (built.ok) {
          sendable.push(change);
          records.push(built.payload);
        } else {
          outcomes.push({ key: change.key, status: 'rejected', reason: built.reason });
        }
      }
      if (sendable.length === 0) return { ok: true, outcomes };
      const body = Buffer.from(JSON.stringify(buildBody(config, records)), 'utf8');
      if (body.length > config.maxBatchBytes) {
        const reason = `the request is ${body.length} bytes, over this destination's limit of ${config.maxBatchBytes}`;
        if (batch.length > 1) return { ok: false, failure: { kind: 'split', reason } };
        return { ok: true, outcomes: [...outcomes, ...sendable.map((c) => rejected(c, reason))] };
      }
      sender ??= createHttpSender();
      const result = await sender.send({
        url,
        method: config.method,
        headers: headers(),
        body,
        timeoutMs: config.timeoutMs,
        signal: context.signal,
        allowPrivateNetwork: deps.allowPrivateNetwork,
      });
      // The batch size the API saw decides between split and reject; template-refused records are
      // refused again, with the same reason, in whatever halves the engine sends next.
      const verdict = classifyError(result, { batchSize: batch.length });
      if (verdict.kind === 'delivered') {
        const settled = config.results
          ? matchResults(sendable, verdict.response.text, config.results)
          : sendable.map((c): RecordOutcome => ({ key: c.key, status: 'accepted' }));
        return { ok: true, outcomes: [...outcomes, ...settled] };
      }
      if (verdict.kind === 'rejected') {
        return { ok: true, outcomes: [...outcomes, ...sendable.map((c) => rejected(c, verdict.reason))] };
      }
      return { ok: false, failure: verdict };
    },

    async close() {
      sender?.close();
      sender = null;
    },
  };
}

function rejected(change: PlannedChange, reason: string): RecordOutcome {
  return { key: change.key, status: 'rejected', reason };
}
