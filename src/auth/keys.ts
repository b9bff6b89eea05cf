import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../db/client.ts';
import type { ApiKeyRole } from '../db/schema/index.ts';
import { newId } from '../lib/ids.ts';

/**
 * API keys: a random secret shown once, stored only as its SHA-256 (a leaked database does not leak
 * working keys). SHA-256 rather than a slow hash is enough because the secret has 256 random bits.
 */

export interface ApiPrincipal {
  keyId: string;
  name: string;
  role: ApiKeyRole;
}

export interface ApiKeyView {
  id: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const SECRET_PREFIX = 'ebb_';
/** Enough of the secret to tell keys apart in a list, too little to guess the rest. */
const VISIBLE_CHARS = SECRET_PREFIX.length + 6;
// An arbitrary, fixed advisory-lock key so processes starting together create one first admin key.
const BOOTSTRAP_LOCK_KEY = 0x0ebb0002;

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateApiKeySecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

const keyColumns = `id, name, role, prefix, created_at as "createdAt", last_used_at as "lastUsedAt",
  revoked_at as "revokedAt"`;

/** Creates a key and returns its secret, which is never stored and cannot be shown again. */
export async function createApiKey(
  store: Pick<Store, 'query'>,
  input: { name: string; role: ApiKeyRole; secret?: string },
): Promise<{ key: ApiKeyView; secret: string }> {
  const secret = input.secret ?? generateApiKeySecret();
  const [key] = await store.query<ApiKeyView>(
    `insert into api_keys (id, name, role, prefix, secret_hash) values ($1, $2, $3, $4, $5)
     returning ${keyColumns}`,
    [newId('apiKey'), input.name, input.role, secret.slice(0, VISIBLE_CHARS), hashApiKey(secret)],
  );
  if (!key) throw new Error('inserting an API key returned no row');
  return { key, secret };
}

export async function listApiKeys(store: Store): Promise<ApiKeyView[]> {
  return store.query<ApiKeyView>(`select ${keyColumns} from api_keys order by created_at, id`);
}

export type RevokeResult = { ok: true; key: ApiKeyView } | { ok: false; reason: 'not_found' | 'last_admin' };

/**
 * Revokes a key. Refuses to revoke the last active admin key, since nobody could then create keys
 * again without restarting Ebb with EBB_ADMIN_KEY.
 */
export async function revokeApiKey(store: Store, id: string): Promise<RevokeResult> {
  return store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
    const [key] = await tx.query<ApiKeyView>(`select ${keyColumns} from api_keys where id = $1`, [id]);
    if (!key) return { ok: false, reason: 'not_found' } as const;
    if (key.revokedAt) return { ok: true, key } as const;
    if (key.role === 'admin') {
      const [other] = await tx.query(
        `select 1 from api_keys where role = 'admin' and revoked_at is null and id <> $1 limit 1`,
        [id],
      );
      if (!other) return { ok: false, reason: 'last_admin' } as const;
    }
    const [revoked] = await tx.query<ApiKeyView>(
      `update api_keys set revoked_at = now() where id = $1 returning ${keyColumns}`,
      [id],
    );
    if (!revoked) throw new Error(`revoking API key ${id} returned no row`);
    return { ok: true, key: revoked } as const;
  });
}

/** The principal for a bearer secret, or null when it is unknown or revoked. */
export async function authenticateApiKey(store: Store, secret: string): Promise<ApiPrincipal | null> {
  // No key Ebb issues or accepts is this long; skip hashing junk.
  if (secret.length === 0 || secret.length > 512) return null;
  const [row] = await store.query<{ id: string; name: string; role: ApiKeyRole; lastUsedAt: Date | null }>(
    `select id, name, role, last_used_at as "lastUsedAt" from api_keys
     where secret_hash = $1 and revoked_at is null`,
    [hashApiKey(secret)],
  );
  if (!row) return null;
  // Written at most once a minute per key, so a busy client does not turn every read into a write.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await store.execute('update api_keys set last_used_at = now() where id = $1', [row.id]);
  }
  return { keyId: row.id, name: row.name, role: row.role };
}

export type BootstrapResult =
  | { kind: 'configured'; created: boolean; revoked: boolean }
  | { kind: 'generated'; secret: string; key: ApiKeyView }
  | { kind: 'existing' };

/**
 * Makes sure someone can call the API. With EBB_ADMIN_KEY set, that key exists as an admin key
 * (idempotent across restarts and processes; a revoked one stays revoked). Otherwise, when no active key exists at all, one admin
 * key is generated and returned so the caller can print it once.
 */
export async function ensureAdminKey(store: Store, adminKey: string | undefined): Promise<BootstrapResult> {
  return store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
    if (adminKey) {
      const [existing] = await tx.query<{ revokedAt: Date | null }>(
        'select revoked_at as "revokedAt" from api_keys where secret_hash = $1',
        [hashApiKey(adminKey)],
      );
      if (existing)
        return { kind: 'configured', created: false, revoked: existing.revokedAt !== null } as const;
      await createApiKey(tx, { name: 'EBB_ADMIN_KEY', role: 'admin', secret: adminKey });
      return { kind: 'configured', created: true, revoked: false } as const;
    }
    const [active] = await tx.query('select 1 from api_keys where revoked_at is null limit 1');
    if (active) return { kind: 'existing' } as const;
    const { key, secret } = await createApiKey(tx, { name: 'first admin key', role: 'admin' });
    return { kind: 'generated', key, secret } as const;
  });
}
