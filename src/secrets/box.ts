import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config.ts';

/**
 * Encrypts secrets at rest with AES-256-GCM (invariant 8). The envelope is `v1.<iv>.<tag>.<ciphertext>`
 * in base64url, so a future key rotation can add `v2` without guessing.
 */
export interface SecretBox {
  seal(plaintext: string): string;
  open(envelope: string): string;
  sealJson(value: Record<string, unknown>): string;
  openJson(envelope: string): Record<string, unknown>;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error('the secret key must be 32 bytes');
  const box: SecretBox = {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), body]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },
    open(envelope) {
      const [version, iv, tag, body] = envelope.split('.');
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('not a v1 secret envelope');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    },
    sealJson(value) {
      return box.seal(JSON.stringify(value));
    },
    openJson(envelope) {
      return JSON.parse(box.open(envelope)) as Record<string, unknown>;
    },
  };
  return box;
}

/**
 * The key comes from EBB_SECRET_KEY. Without it, Ebb generates one on first start and keeps it in the
 * data folder with 0600 permissions, so `npm start` needs no set-up. Deployments with several machines
 * must set EBB_SECRET_KEY, since each machine would otherwise generate its own.
 */
export async function loadSecretKey(options: { secretKey?: string; dataDir: string }): Promise<{
  key: Buffer;
  generated: boolean;
  file?: string;
}> {
  if (options.secretKey) return { key: Buffer.from(options.secretKey, 'base64'), generated: false };
  const file = path.join(options.dataDir, 'secret.key');
  try {
    const text = (await readFile(file, 'utf8')).trim();
    const key = Buffer.from(text, 'base64');
    if (key.length !== 32)
      throw new ConfigError('EBB_SECRET_KEY', `${file} does not hold a 32-byte base64 key`);
    return { key, generated: false, file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32);
  await mkdir(options.dataDir, { recursive: true });
  // 'wx' fails if another process created the file first; then use theirs.
  try {
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(options);
    throw error;
  }
  return { key, generated: true, file };
}
