import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  batchWebhookId,
  parseSigningSecret,
  signWebhook,
  webhookIdFor,
} from '../../../connectors/webhook/sign.ts';

const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function key(secret: string): Buffer {
  const parsed = parseSigningSecret(secret);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.key;
}

describe('Standard Webhooks signer', () => {
  it('matches the specification test vector', () => {
    const header = signWebhook([key(vector.secret)], vector.id, vector.timestamp, Buffer.from(vector.body));
    expect(header).toBe(vector.signature);
  });

  it('signs once per secret, space-delimited, and the reference library accepts either secret', () => {
    const next = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const now = Math.floor(Date.now() / 1000);
    const body = Buffer.from('{"a":1}');
    const header = signWebhook([key(vector.secret), key(next)], 'msg_1', now, body);
    expect(header.split(' ')).toHaveLength(2);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': header };
    for (const secret of [vector.secret, next]) {
      expect(new Webhook(secret).verify(body.toString(), headers)).toEqual({ a: 1 });
    }
  });

  it('refuses secrets that are not base64 of 24 to 64 bytes', () => {
    expect(parseSigningSecret('whsec_short')).toEqual({
      ok: false,
      message: 'a signing secret decodes to 24 to 64 bytes, this one to 3',
    });
    expect(parseSigningSecret('whsec_not base64!').ok).toBe(false);
  });

  it('keeps ids stable and free of dots', () => {
    expect(webhookIdFor('abc_123')).toBe('abc_123');
    expect(webhookIdFor('a.b')).toMatch(/^msg_[A-Za-z0-9_-]{32}$/);
    expect(webhookIdFor('a.b')).toBe(webhookIdFor('a.b'));
    expect(batchWebhookId(['k2', 'k1'])).toBe(batchWebhookId(['k1', 'k2']));
    expect(batchWebhookId(['k1', 'k2'])).not.toBe(batchWebhookId(['k1', 'k3']));
  });
});
