import { createHash } from 'node:crypto';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import type { RateLimits } from '../../../connectors/types.ts';

/** Runs a request when the credential's rate and concurrency allow. */
export interface Limiter {
  schedule<T>(job: () => Promise<T>): Promise<T>;
}

/**
 * One limiter per destination credential, shared by every sync in the process (invariant 6). With a
 * Redis URL the limiters use Bottleneck's clustering, keyed by the credential, so the limit also holds
 * across worker processes and machines.
 */
export interface LimiterRegistry {
  /** The limiter for a credential; the limits of the first caller win until the process restarts. */
  get(credentialKey: string, limits: RateLimits): Limiter;
  close(): Promise<void>;
}

/**
 * The Redis key must not carry the credential itself (a connector may key on a token), so it is a hash;
 * the prefix keeps Ebb's keys apart from anything else in a shared Redis.
 */
export function limiterId(credentialKey: string): string {
  return `ebb-limit-${createHash('sha256').update(credentialKey).digest('hex').slice(0, 32)}`;
}

/**
 * Share of the interval kept free as a margin for timer and network jitter: HubSpot counts arrivals in a
 * rolling window, so requests are spaced evenly (never burst), with R starts spanning 3% more than the
 * interval. Arrivals can then shift by up to 3% of the interval (300 ms for HubSpot's 10 s) before a
 * window could hold R + 1 of them, while the sustained rate stays at 97% of the limit.
 */
export const jitterMargin = 0.03;
/**
 * The margin is never under this: jitter is absolute (a busy event loop, a Redis round trip), so a short
 * interval (5 per second) needs more than 3% of it, while a long one (HubSpot's 10 s) has that already.
 */
export const minJitterMarginMs = 100;

/** Milliseconds between request starts so no rolling window of `intervalMs` holds more than the limit. */
export function spacingMs(limits: RateLimits): number {
  const margin = Math.max(limits.intervalMs * jitterMargin, minJitterMarginMs);
  return (limits.intervalMs + margin) / limits.requestsPerInterval;
}

/**
 * How early a start may run against its slot. Timers fire on whole milliseconds, so a spacing under 1 ms
 * is kept on average (starts run in small bursts within the tolerance); over any window of length I at
 * most (I + tolerance + late credit) / spacing + 1 starts happen, within the limit thanks to the margin
 * (for any interval over 50 ms).
 */
const toleranceMs = 1;

/**
 * A start whose timer fired late (a busy event loop) keeps up to this much of its slot's time instead of
 * losing it: a few ms late on each of thousands of requests otherwise cost 2% of the rate. The window
 * bound above grows by the same amount, which the margin covers.
 */
function lateCreditMs(limits: RateLimits): number {
  return Math.min(10, limits.intervalMs * 0.01);
}

/**
 * In-process limiter: evenly spaced starts (a GCRA schedule) and at most `maxConcurrent` in flight.
 * Bottleneck's local datastore yields to a 0 ms timer on every internal step, which costs about 3 ms per
 * job and caps it near 330 jobs/s (measured: 20,000 no-op jobs at concurrency 8); one-record-per-request
 * destinations need thousands per second, so a single process schedules here instead.
 */
export function createLocalLimiter(limits: RateLimits): Limiter & { stop(): void } {
  const spacing = spacingMs(limits);
  const credit = lateCreditMs(limits);
  const maxConcurrent = Math.max(1, limits.maxConcurrent);
  const waiting: (() => void)[] = [];
  let running = 0;
  let theoretical = 0;
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    while (running < maxConcurrent && waiting.length > 0) {
      const now = performance.now();
      const allowedAt = theoretical - toleranceMs;
      if (now < allowedAt) {
        timer ??= setTimeout(() => {
          timer = undefined;
          pump();
        }, allowedAt - now);
        return;
      }
      theoretical = Math.max(now - credit, theoretical) + spacing;
      running += 1;
      waiting.shift()?.();
    }
  };
  return {
    schedule<T>(job: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        waiting.push(() => {
          job()
            .then(resolve, reject)
            .finally(() => {
              running -= 1;
              pump();
            });
        });
        pump();
      });
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

export function createLimiterRegistry(options: { redisUrl?: string } = {}): LimiterRegistry {
  const local = new Map<string, ReturnType<typeof createLocalLimiter>>();
  const clustered = new Map<string, Bottleneck>();
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
      const existing = clustered.get(credentialKey) ?? local.get(credentialKey);
      if (existing) return existing;
      // At 1,000 requests/s or more the rate is beyond what Bottleneck itself can schedule, so such a
      // destination is effectively unlimited: each process keeps only its own concurrency cap.
      if (!options.redisUrl || spacingMs(limits) < 1) {
        const limiter = createLocalLimiter(limits);
        local.set(credentialKey, limiter);
        return limiter;
      }
      const limiter = new Bottleneck({
        maxConcurrent: limits.maxConcurrent,
        // Bottleneck's Redis scripts keep the next allowed start in Redis, so the spacing holds across
        // every process of the cluster.
        // Whole milliseconds: Bottleneck's Redis scripts never start a job under a fractional minTime
        // (found when 6 per second, 183.3 ms, hung every worker). Rounding up only widens the spacing.
        minTime: Math.ceil(spacingMs(limits)),
        datastore: 'ioredis',
        connection: redisConnection(options.redisUrl),
        id: limiterId(credentialKey),
        // Other processes share these keys: never wipe their state on start-up.
        clearDatastore: false,
        // Lets Redis forget a credential no process has used for a day.
        timeout: 24 * 60 * 60 * 1000,
      });
      clustered.set(credentialKey, limiter);
      return limiter;
    },
    async close() {
      for (const limiter of local.values()) limiter.stop();
      local.clear();
      for (const limiter of clustered.values()) await limiter.disconnect(false);
      clustered.clear();
      if (connection) await connection.disconnect(false);
      connection = undefined;
    },
  };
}
