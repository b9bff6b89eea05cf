import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLimiterRegistry,
  type LimiterRegistry,
  limiterId,
  spacingMs,
} from '../../../src/sync/deliver/limiters.ts';
import { fullJitterMs, retryDelayMs } from '../../../src/sync/deliver/retry.ts';

const registries: LimiterRegistry[] = [];
afterEach(async () => {
  for (const registry of registries.splice(0)) await registry.close();
});

const limits = { requestsPerInterval: 5, intervalMs: 60_000, maxConcurrent: 10 };

describe('rate limiters per credential', () => {
  it('shares one limiter between every sync of a credential in a process', () => {
    const registry = createLimiterRegistry();
    registries.push(registry);
    expect(registry.get('hubspot:portal-1', limits)).toBe(registry.get('hubspot:portal-1', limits));
    expect(registry.get('hubspot:portal-1', limits)).not.toBe(registry.get('hubspot:portal-2', limits));
  });

  it('never puts the credential itself in the Redis key', () => {
    expect(limiterId('webhook:secret-token-123')).toMatch(/^ebb-limit-[0-9a-f]{32}$/);
    expect(limiterId('webhook:secret-token-123')).not.toContain('secret');
  });

  it('spaces requests so no rolling window holds more than the limit, and keeps the rate near it', async () => {
    const registry = createLimiterRegistry();
    registries.push(registry);
    const fast = { requestsPerInterval: 10, intervalMs: 500, maxConcurrent: 4 };
    const limiter = registry.get('test:local', fast);
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        limiter.schedule(async () => {
          starts.push(performance.now());
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((resolve) => setTimeout(resolve, i % 7));
          inFlight -= 1;
        }),
      ),
    );
    const elapsed = performance.now() - started;
    expect(starts).toHaveLength(40);
    expect(maxInWindow(starts, fast.intervalMs)).toBeLessThanOrEqual(fast.requestsPerInterval);
    expect(maxInFlight).toBeLessThanOrEqual(fast.maxConcurrent);
    // 39 gaps of the spacing: at least the limit's own pace, and not much slower than it.
    // (a start may use up to 1 ms of tolerance and a late timer's credit, never a whole slot)
    expect(elapsed).toBeGreaterThanOrEqual(38 * spacingMs(fast));
    // The jitter margin costs little on a vendor-sized window: HubSpot's 190 per 10 s runs at ≥ 97%.
    const hubspot = { requestsPerInterval: 190, intervalMs: 10_000, maxConcurrent: 8 };
    expect(hubspot.intervalMs / (spacingMs(hubspot) * hubspot.requestsPerInterval)).toBeGreaterThanOrEqual(
      0.97,
    );
  });

  it('runs effectively unlimited destinations at full concurrency without spacing them', async () => {
    const registry = createLimiterRegistry();
    registries.push(registry);
    const limiter = registry.get('test:unlimited', {
      requestsPerInterval: 100_000,
      intervalMs: 1000,
      maxConcurrent: 8,
    });
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 2000 }, () =>
        limiter.schedule(async () => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await Promise.resolve();
          inFlight -= 1;
          done += 1;
        }),
      ),
    );
    expect(done).toBe(2000);
    expect(maxInFlight).toBe(8);
  });

  it('holds one limit across processes through Redis (two registries stand in for two workers)', async () => {
    const credential = `test:${randomBytes(8).toString('hex')}`;
    const a = createLimiterRegistry({ redisUrl: 'redis://127.0.0.1:6379' });
    const b = createLimiterRegistry({ redisUrl: 'redis://127.0.0.1:6379' });
    registries.push(a, b);
    const shared = { requestsPerInterval: 5, intervalMs: 1000, maxConcurrent: 10 };
    const limiterA = a.get(credential, shared);
    const limiterB = b.get(credential, shared);
    const starts: number[] = [];
    const by = { a: 0, b: 0 };
    const job = (who: 'a' | 'b') => async () => {
      starts.push(performance.now());
      by[who] += 1;
    };
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) jobs.push(limiterA.schedule(job('a')), limiterB.schedule(job('b')));
    await Promise.all(jobs);
    // Five requests per second for the credential, whichever process sends them.
    expect(by).toEqual({ a: 6, b: 6 });
    expect(maxInWindow(starts, shared.intervalMs)).toBeLessThanOrEqual(shared.requestsPerInterval);
  }, 30_000);
});

/** The most starts within any half-open window [t, t + intervalMs), as a rolling-window limit counts. */
function maxInWindow(starts: number[], intervalMs: number): number {
  const sorted = [...starts].sort((x, y) => x - y);
  let most = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while ((sorted[to] ?? 0) - (sorted[from] ?? 0) >= intervalMs) from += 1;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

describe('retry timing', () => {
  const policy = { maxAttempts: 6, maxElapsedMs: 60_000, baseMs: 500, capMs: 8000 };
  it('draws full jitter under an exponential ceiling with a cap', () => {
    expect(fullJitterMs(0, policy, () => 0.999)).toBe(499);
    expect(fullJitterMs(3, policy, () => 0.5)).toBe(2000);
    expect(fullJitterMs(10, policy, () => 0.5)).toBe(4000);
    expect(fullJitterMs(2, policy, () => 0)).toBe(0);
  });
  it('never waits less than Retry-After', () => {
    expect(retryDelayMs(0, 30_000, policy, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(4, 10, policy, () => 0.5)).toBe(4000);
  });

  it('starts jobs through Redis when the spacing is not a whole number of milliseconds', async () => {
    // 6 per second is 183.3 ms apart; Bottleneck's Redis scripts stalled on a fractional minTime.
    const registry = createLimiterRegistry({ redisUrl: 'redis://127.0.0.1:6379' });
    registries.push(registry);
    const limiter = registry.get(`test:${randomBytes(8).toString('hex')}`, {
      requestsPerInterval: 6,
      intervalMs: 1000,
      maxConcurrent: 2,
    });
    let done = 0;
    await Promise.all(
      Array.from({ length: 4 }, () =>
        limiter.schedule(async () => {
          done += 1;
        }),
      ),
    );
    expect(done).toBe(4);
  }, 15_000);
});
