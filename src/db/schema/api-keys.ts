import { pgCore } from '../drizzle.ts';
import { createdAt, ts } from './common.ts';

const { pgTable, text } = pgCore;

export const apiKeyRoles = ['admin', 'editor', 'viewer'] as const;
export type ApiKeyRole = (typeof apiKeyRoles)[number];

/** API keys are stored as a SHA-256 of the secret; the secret itself is shown once, at creation. */
export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  role: text('role').$type<ApiKeyRole>().notNull(),
  /** The first characters of the secret, so a person can tell keys apart in a list. */
  prefix: text('prefix').notNull(),
  secretHash: text('secret_hash').notNull().unique(),
  createdAt: createdAt(),
  lastUsedAt: ts('last_used_at'),
  revokedAt: ts('revoked_at'),
});
