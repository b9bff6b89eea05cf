import { createHash } from 'node:crypto';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import type { RateLimits } from '../../../connectors/types.ts';

/**
 * One Bottleneck limiter per destination credential, shared by every sync in the process (invariant 6).
 * With a Redis URL the limiters use Bottleneck's clustering, keyed by the credential, so the limit also
 * holds across worker processes and machines.
 */
export interface LimiterRegistry {
  /** The limiter for a credential; the limits of the first caller win until the process restarts. */
  get(credentialKey: string, limits: RateLimits): Bottleneck;
  close(): Promise<void>;
}

/**
 * The Redis key must not carry the credential itself (a connector may key on a token), so it is a hash;
 * the prefix keeps Ebb's keys apart from anything else in a shared Redis.
 */
export function limiterId(credentialKey: string): string {
  return `ebb-limit-${createHash('sha256').update(credentialKey).digest('hex').slice(0, 32)}`;
}

function limiterOptions(limits: RateLimits): Bottleneck.ConstructorOptions {
  return {
    maxConcurrent: limits.maxConcurrent,
    reservoir: limits.requestsPerInterval,
    reservoirRefreshAmount: limits.requestsPerInterval,
    reservoirRefreshInterval: limits.intervalMs,
  };
}

export function createLimiterRegistry(options: { redisUrl?: string } = {}): LimiterRegistry {
  const limiters = new Map<string, Bottleneck>();
  let connection: Bottleneck.IORedisConnection | undefined;
  const redisConnection = (url: string) => {
    if (!connection) {
      // `lazyConnect: false` so a wrong REDIS_URL shows up in the logs at the first delivery.
      const client = new Redis(url, { maxRetriesPerRequest: 3 });
      connection = new Bottleneck.IORedisConnection({ client });
    }
    return connection;
  };
  return {
    get(credentialKey, limits) {
      const existing = limiters.get(credentialKey);
      if (existing) return existing;
      const limiter = options.redisUrl
        ? new Bottleneck({
            ...limiterOptions(limits),
            datastore: 'ioredis',
            connection: redisConnection(options.redisUrl),
            id: limiterId(credentialKey),
            // Other processes share these keys: never wipe their state on start-up.
            clearDatastore: false,
            // Lets Redis forget a credential no process has used for a day.
            timeout: 24 * 60 * 60 * 1000,
          })
        : new Bottleneck(limiterOptions(limits));
      limiters.set(credentialKey, limiter);
      return limiter;
    },
    async close() {
      for (const limiter of limiters.values()) await limiter.disconnect(false);
      limiters.clear();
      if (connection) await connection.disconnect(false);
      connection = undefined;
    },
  };
}
