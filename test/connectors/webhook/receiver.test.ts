import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpSender } from '../../../connectors/shared/http-request.ts';
import { parseSigningSecret, signWebhook } from '../../../connectors/webhook/sign.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../emulators/webhook/server.ts';
import { secretA } from './helpers.ts';

let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

function keyA(): Buffer {
  const parsed = parseSigningSecret(secretA);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.key;
}

/** Posts raw bytes with chosen headers, bypassing the connector. */
function post(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function signed(id: string, body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook([keyA()], id, timestamp, Buffer.from(body)),
  };
}

describe('webhook receiver emulator', () => {
  const event = JSON.stringify({ operation: 'upsert', key: 'k1', data: { name: 'A' } });

  it('applies a signed event once and counts the second delivery as a duplicate', async () => {
    receiver = await startWebhookReceiver({ secrets: [secretA] });
    expect((await post(receiver.url, event, signed('msg_1', event))).status).toBe(200);
    expect((await post(receiver.url, event, signed('msg_1', event))).status).toBe(200);
    expect(Object.fromEntries(receiver.state)).toEqual({ k1: { name: 'A' } });
    expect(receiver.stats).toMatchObject({ applied: 1, duplicates: 1 });
    expect(receiver.duplicateIds).toEqual(['msg_1']);
  });

  it('refuses a tampered body, a missing signature and a stale timestamp', async () => {
    receiver = await startWebhookReceiver({ secrets: [secretA] });
    const headers = signed('msg_2', event);
    expect(await post(receiver.url, event.replace('"A"', '"B"'), headers)).toEqual({
      status: 401,
      text: 'No matching signature found',
    });
    expect((await post(receiver.url, event, { 'content-type': 'application/json' })).status).toBe(401);
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 360;
    expect(await post(receiver.url, event, signed('msg_3', event, sixMinutesAgo))).toEqual({
      status: 400,
      text: 'Message timestamp too old',
    });
    expect(receiver.stats).toMatchObject({ applied: 0, badSignatures: 2, staleTimestamps: 1 });
    expect(receiver.state.size).toBe(0);
  });

  it('holds a request open on a timeout fault, after applying it', async () => {
    receiver = await startWebhookReceiver({ secrets: [secretA], faults: { forKeys: { k1: 'timeout' } } });
    const sender = createHttpSender();
    const result = await sender.send({
      url: new URL(receiver.url),
      method: 'POST',
      headers: signed('msg_4', event),
      body: Buffer.from(event),
      timeoutMs: 200,
      signal: new AbortController().signal,
      allowPrivateNetwork: true,
    });
    sender.close();
    expect(result).toEqual({ ok: false, kind: 'timeout', message: 'no response within 200 ms' });
    expect(receiver.unansweredIds).toEqual(new Set(['msg_4']));
    expect(Object.fromEntries(receiver.state)).toEqual({ k1: { name: 'A' } });
  });

  it('reaches a name through the pinned lookup, keeping the Host header', async () => {
    receiver = await startWebhookReceiver();
    const port = new URL(receiver.url).port;
    const sender = createHttpSender();
    const result = await sender.send({
      url: new URL(`http://localhost:${port}/named`),
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(event),
      timeoutMs: 2000,
      signal: new AbortController().signal,
      allowPrivateNetwork: true,
    });
    sender.close();
    // The receiver listens on 127.0.0.1 only: if localhost also names ::1, the socket falls back to
    // the next checked address.
    expect(result.ok && result.response.status).toBe(200);
    expect(receiver.requests[0]?.headers.host).toBe(`localhost:${port}`);
  });

  it('treats a name that does not resolve as a network error, to be retried', async () => {
    const sender = createHttpSender();
    const result = await sender.send({
      url: new URL('http://no-such-host.invalid/hook'),
      method: 'POST',
      headers: {},
      body: Buffer.from('{}'),
      timeoutMs: 5000,
      signal: new AbortController().signal,
      allowPrivateNetwork: false,
    });
    sender.close();
    expect(result).toMatchObject({
      ok: false,
      kind: 'network',
      message: expect.stringMatching(/^could not resolve/),
    });
  });
});
