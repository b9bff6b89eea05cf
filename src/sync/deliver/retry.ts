/**
 * Retry timing for deliveries: exponential backoff with full jitter (AWS, "Exponential Backoff and
 * Jitter": it does the least total work of the jitter schemes), never shorter than what the destination
 * asked for (Retry-After), capped by attempts and by total elapsed time.
 */

export interface RetryPolicy {
  /** Total send attempts per record, the first included. */
  maxAttempts: number;
  /** Give up on a batch once this long has passed since its first attempt. */
  maxElapsedMs: number;
  baseMs: number;
  capMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 6,
  maxElapsedMs: 10 * 60_000,
  baseMs: 500,
  capMs: 60_000,
};

/** Time and randomness, injectable so tests never sleep for real. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  random(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  },
};

/** Full jitter: uniform in [0, min(cap, base · 2^retry)), where retry 0 is the wait before attempt 2. */
export function fullJitterMs(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** How long to wait before the next attempt: the destination's own wait wins when it is longer. */
export function retryDelayMs(
  retry: number,
  waitMs: number | undefined,
  policy: RetryPolicy,
  random: () => number,
): number {
  return Math.max(waitMs ?? 0, fullJitterMs(retry, policy, random));
}

/**
 * Whether another attempt is allowed: under the attempt cap, and the wait would not carry the batch past
 * its elapsed-time budget (a wait that ends after the budget is pointless).
 */
export function canRetry(
  attemptsMade: number,
  startedAt: number,
  delayMs: number,
  policy: RetryPolicy,
  now: number,
): boolean {
  return attemptsMade < policy.maxAttempts && now + delayMs - startedAt <= policy.maxElapsedMs;
}
