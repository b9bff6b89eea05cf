import { createHash, createHmac } from 'node:crypto';

/**
 * Standard Webhooks symmetric signatures: `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)),
 * where the key is the base64-decoded part of a `whsec_` secret. Several secrets give several
 * space-delimited signatures, so a receiver can rotate its secret without dropping deliveries.
 */

const prefix = 'whsec_';

export type SecretParse = { ok: true; key: Buffer } | { ok: false; message: string };

/** Reads a `whsec_…` secret; the spec serialises 24 to 64 random bytes in base64. */
export function parseSigningSecret(secret: string): SecretParse {
  const encoded = secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    return { ok: false, message: 'a signing secret is whsec_ followed by base64' };
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 24 || key.length > 64) {
    return { ok: false, message: `a signing secret decodes to 24 to 64 bytes, this one to ${key.length}` };
  }
  return { ok: true, key };
}

/** The `webhook-signature` header value for one delivery attempt, over the exact bytes sent. */
export function signWebhook(keys: readonly Buffer[], id: string, timestamp: number, body: Buffer): string {
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]);
  return keys.map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`).join(' ');
}

/**
 * A `webhook-id` from an idempotency key. The spec forbids `.` in ids (it separates the signed parts),
 * so a key that contains one, or is too long for a header a receiver stores, is hashed.
 */
export function webhookIdFor(idempotencyKey: string): string {
  if (/^[A-Za-z0-9_-]{1,200}$/.test(idempotencyKey)) return idempotencyKey;
  return `msg_${createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32)}`;
}

/**
 * The id of a batch delivery: a hash of its members' idempotency keys, sorted, so the same batch gets
 * the same id on every retry whatever the order the engine handed it over in.
 */
export function batchWebhookId(idempotencyKeys: readonly string[]): string {
  const hash = createHash('sha256');
  for (const key of [...idempotencyKeys].sort()) hash.update(key).update('\n');
  return `msg_batch_${hash.digest('base64url').slice(0, 32)}`;
}
