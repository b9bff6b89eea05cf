import path from 'node:path';
import { z } from 'zod';

/**
 * All configuration comes from environment variables, read here once at start-up and validated, so a
 * wrong value fails fast with one line naming the variable. No other file reads `process.env`.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.variable = variable;
  }
}

const boolFlag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max));

const postgresUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    } catch {
      return false;
    }
  },
  { message: 'must be a URL such as postgres://user:password@host:5432/database' },
);

const envSchema = z.object({
  PORT: z
    .string()
    .regex(/^\d+$/, 'must be a port number from 1 to 65535')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be from 1 to 65535').max(65535, 'must be from 1 to 65535'))
    .default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: postgresUrl.optional(),
  EBB_DATA_DIR: z.string().min(1).default('.ebb'),
  EBB_SECRET_KEY: z
    .string()
    .refine(
      (v) => Buffer.from(v, 'base64').length === 32,
      'must be 32 bytes, base64-encoded (openssl rand -base64 32)',
    )
    .optional(),
  EBB_ADMIN_KEY: z.string().min(24, 'must be at least 24 characters').optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  EBB_WORKER_CONCURRENCY: positiveInt(64).default(2),
  EBB_POLL_INTERVAL_MS: positiveInt(60_000).default(1000),
  EBB_LEASE_SECONDS: positiveInt(3600).default(30),
  EBB_SCHEDULER: boolFlag.default(true),
  EBB_WAREHOUSE_STATEMENT_TIMEOUT_SECONDS: positiveInt(86_400).default(3600),
  EBB_MAX_BODY_BYTES: positiveInt(64 * 1024 * 1024).default(1024 * 1024),
  EBB_ALLOW_PRIVATE_NETWORK: boolFlag.default(false),
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\/./.test(v), 'must be a URL such as redis://127.0.0.1:6379')
    .optional(),
});

/** Every environment variable Ebb reads (README's table, docker-compose.yml). */
export const configVariables = Object.keys(envSchema.shape);

export type Config = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  // Treat empty strings as unset: `PORT= npm start` should mean the default, not an error.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(variable, issue?.message ?? 'is invalid');
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.EBB_DATA_DIR),
    secretKey: e.EBB_SECRET_KEY,
    adminKey: e.EBB_ADMIN_KEY,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') },
    worker: {
      concurrency: e.EBB_WORKER_CONCURRENCY,
      pollIntervalMs: e.EBB_POLL_INTERVAL_MS,
      leaseMs: e.EBB_LEASE_SECONDS * 1000,
    },
    schedulerEnabled: e.EBB_SCHEDULER,
    warehouseStatementTimeoutMs: e.EBB_WAREHOUSE_STATEMENT_TIMEOUT_SECONDS * 1000,
    maxBodyBytes: e.EBB_MAX_BODY_BYTES,
    allowPrivateNetwork: e.EBB_ALLOW_PRIVATE_NETWORK,
    redisUrl: e.REDIS_URL,
  } as const;
}
