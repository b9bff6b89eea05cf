import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createLimiterRegistry,
  type LimiterRegistry,
  limiterId,
} from '../../../src/sync/deliver/limiters.ts';
import { fullJitterMs, retryDelayMs } from '../../../src/sync/deliver/retry.ts';

const registries: LimiterRegistry[] = [];
afterEach(async () => {
  for (const registry of registries.splice(0)) await registry.close();
});

async function waitFor(check: () => boolean | Promise<boolean>, deadlineMs = 10_000) {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

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

  it('holds one limit across processes through Redis (two registries stand in for two workers)', async () => {
    const credential = `test:${randomBytes(8).toString('hex')}`;
    const a = createLimiterRegistry({ redisUrl: 'redis://127.0.0.1:6379' });
    const b = createLimiterRegistry({ redisUrl: 'redis://127.0.0.1:6379' });
    registries.push(a, b);
    const limiterA = a.get(credential, limits);
    const limiterB = b.get(credential, limits);
    await limiterA.ready();
    await limiterB.ready();
    let done = 0;
    const job = async () => {
      done += 1;
    };
    for (let i = 0; i < 6; i++) {
      limiterA.schedule(job).catch(() => {});
      limiterB.schedule(job).catch(() => {});
    }
    // Five requests per minute for the credential, whichever process sends them.
    await waitFor(() => done === 5);
    await waitFor(async () => (await limiterA.currentReservoir()) === 0);
    expect(await limiterB.currentReservoir()).toBe(0);
    const queued =
      limiterA.counts().QUEUED +
      limiterB.counts().QUEUED +
      limiterA.counts().RECEIVED +
      limiterB.counts().RECEIVED;
    expect(queued + done).toBe(12);
    expect(done).toBe(5);
    await limiterA.stop({ dropWaitingJobs: true });
    await limiterB.stop({ dropWaitingJobs: true });
  });
});

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
});
