import { randomBytes } from 'node:crypto';

export const idPrefixes = {
  apiKey: 'key',
  source: 'src',
  model: 'mdl',
  destination: 'dst',
  sync: 'syn',
  run: 'run',
} as const;

/**
 * Ids are a type prefix and 20 random base32 characters (100 bits): a person can tell a sync id from a
 * run id at a glance, and ids never collide across processes without coordination.
 */
export function newId(kind: keyof typeof idPrefixes): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(20);
  let out = '';
  for (const byte of bytes) out += alphabet[byte & 31];
  return `${idPrefixes[kind]}_${out}`;
}
