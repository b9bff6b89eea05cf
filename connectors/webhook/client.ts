import { randomBytes } from 'node:crypto';
import { version } from '../../src/version.ts';
import type { HttpResult, HttpSender } from '../shared/http-request.ts';
import { createHttpSender } from '../shared/http-request.ts';
import { applyFieldTemplate, type PlaceResult, placeFields } from '../shared/template.ts';
import type {
  BatchFailure,
  ConnectorDeps,
  DestinationClient,
  Json,
  PlannedChange,
  RecordOutcome,
  TestResult,
  WriteContext,
  WriteResult,
} from '../types.ts';
import { classifyError, type WebhookVerdict } from './classify.ts';
import type { WebhookConfig, WebhookTemplate } from './config.ts';
import { batchWebhookId, parseSigningSecret, signWebhook, webhookIdFor } from './sign.ts';

/** A request body stays under 1 MiB: common receiver and proxy body limits start there. */
export const maxWebhookBytes = 1024 * 1024;

/** The payload for one record, shaped by the template (see config.ts for the documented shape). */
export function buildRecordEvent(
  change: PlannedChange,
  object: string,
  template: WebhookTemplate,
): PlaceResult {
  const envelope: Record<string, Json> = {
    type: `ebb.record.${change.operation}`,
    object,
    operation: change.operation,
    key: change.key,
  };
  const fields =
    change.operation === 'delete' ? {} : applyFieldTemplate(change.fields, template.fields ?? {});
  return placeFields(envelope, fields, template.wrap, template.fields?.static);
}

function outcomesFor(
  changes: PlannedChange[],
  verdict: { kind: 'accepted' } | { kind: 'rejected'; reason: string },
): RecordOutcome[] {
  return changes.map((c) =>
    verdict.kind === 'accepted'
      ? { key: c.key, status: 'accepted' }
      : { key: c.key, status: 'rejected', reason: verdict.reason },
  );
}

export function createWebhookClient(config: WebhookConfig, deps: ConnectorDeps): DestinationClient {
  const url = new URL(config.url);
  const keys = (config.signingSecret ?? []).flatMap((secret) => {
    const parsed = parseSigningSecret(secret);
    return parsed.ok ? [parsed.key] : [];
  });
  let sender: HttpSender | null = null;

  async function deliver(id: string, payload: Json, signal: AbortSignal): Promise<HttpResult> {
    // The body is serialised once and these exact bytes are both signed and sent.
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    if (body.length > maxWebhookBytes) {
      // Answered as the receiver would (413), so a batch is split and a lone record rejected.
      const text = `the payload is ${body.length} bytes, over Ebb's limit of ${maxWebhookBytes} for one request`;
      return { ok: true, response: { status: 413, headers: {}, text } };
    }
    sender ??= createHttpSender();
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'user-agent': `Ebb-Webhooks/${version}`,
      ...config.headers,
      ...config.secretHeaders,
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
    };
    if (keys.length > 0) headers['webhook-signature'] = signWebhook(keys, id, timestamp, body);
    return sender.send({
      url,
      method: config.method,
      headers,
      body,
      timeoutMs: config.timeoutMs,
      signal,
      allowPrivateNetwork: deps.allowPrivateNetwork,
    });
  }

  async function writeBatch(
    changes: PlannedChange[],
    events: Json[],
    context: WriteContext,
  ): Promise<WriteResult> {
    const id = batchWebhookId(changes.map((c) => c.idempotencyKey));
    const result = await deliver(
      id,
      { type: 'ebb.batch', object: context.object, records: events },
      context.signal,
    );
    const verdict = classifyError(result, { batchSize: changes.length });
    if (isFailure(verdict)) return { ok: false, failure: verdict };
    return { ok: true, outcomes: outcomesFor(changes, verdict) };
  }

  /**
   * One request per record. A batch of one reports request failures as the batch's, so the engine's
   * backoff applies; in a longer batch each record carries its own outcome, and after a throttling
   * answer the rest wait too rather than hammer the receiver.
   */
  async function writeSingles(
    changes: PlannedChange[],
    events: Json[],
    context: WriteContext,
  ): Promise<WriteResult> {
    const outcomes: RecordOutcome[] = [];
    let holdOff: { reason: string; waitMs?: number } | null = null;
    for (const [index, change] of changes.entries()) {
      if (holdOff) {
        outcomes.push({ key: change.key, status: 'retryable', ...holdOff });
        continue;
      }
      const result = await deliver(
        webhookIdFor(change.idempotencyKey),
        events[index] ?? null,
        context.signal,
      );
      const verdict = classifyError(result, { batchSize: 1 });
      if (!isFailure(verdict)) {
        outcomes.push(...outcomesFor([change], verdict));
        continue;
      }
      if (changes.length === 1 || verdict.kind !== 'retry') return { ok: false, failure: verdict };
      holdOff = {
        reason: verdict.reason,
        ...(verdict.waitMs === undefined ? {} : { waitMs: verdict.waitMs }),
      };
      outcomes.push({ key: change.key, status: 'retryable', ...holdOff });
    }
    return { ok: true, outcomes };
  }

  return {
    async test(signal) {
      const id = `msg_test_${randomBytes(12).toString('base64url')}`;
      const payload = {
        type: 'ebb.test',
        timestamp: new Date().toISOString(),
        data: { message: 'Ebb test ping' },
      };
      const result = await deliver(id, payload, signal);
      return testResult(result);
    },

    async write(batch, context) {
      const outcomes: RecordOutcome[] = [];
      const sendable: PlannedChange[] = [];
      const events: Json[] = [];
      for (const change of batch) {
        const built = buildRecordEvent(change, context.object, config.template);
        if (built.ok) {
          sendable.push(change);
          events.push(built.payload);
        } else {
          outcomes.push({ key: change.key, status: 'rejected', reason: built.reason });
        }
      }
      if (sendable.length === 0) return { ok: true, outcomes };
      const sent =
        config.batchSize > 1
          ? await writeBatch(sendable, events, context)
          : await writeSingles(sendable, events, context);
      // A failed request fails the whole batch, template-refused records included: the engine retries
      // or splits it, and those records are refused again with the same reason.
      if (!sent.ok) return sent;
      return { ok: true, outcomes: [...outcomes, ...sent.outcomes] };
    },

    async close() {
      sender?.close();
      sender = null;
    },
  };
}

function isFailure(verdict: WebhookVerdict): verdict is BatchFailure {
  return verdict.kind !== 'accepted' && verdict.kind !== 'rejected';
}

export function testResult(result: HttpResult): TestResult {
  const verdict = classifyError(result, { batchSize: 1 });
  if (verdict.kind === 'accepted' && result.ok) {
    return { ok: true, message: `the endpoint answered HTTP ${result.response.status}` };
  }
  if (verdict.kind === 'accepted') return { ok: true };
  return { ok: false, message: verdict.reason };
}
