/**
 * Fault injection for the receiver: what to answer, decided per request from rates (seeded, so a
 * failing run can be replayed) or from the record keys a request carries.
 */

/** `timeout` holds the request open and never answers; `{ status }` answers that status and body. */
export type Fault =
  | 'gone'
  | 'throttle'
  | 'error'
  | 'timeout'
  | { status: number; body?: string; headers?: Record<string, string> };

export interface FaultOptions {
  /** Share of requests (0 to 1) answered with each fault, drawn in this order. */
  rates?: { gone?: number; throttle?: number; error?: number; timeout?: number };
  /** A fault for any request that carries one of these record keys. */
  forKeys?: Record<string, Fault>;
  /** A fault for the first request only that carries one of these keys (then it is consumed). */
  once?: Record<string, Fault>;
  /** `Retry-After` seconds sent with `throttle` (429) and with 503s. */
  retryAfterSeconds?: number;
  /**
   * Whether a request that times out was processed before the receiver went silent (the realistic
   * case, and the one that makes a retried delivery a duplicate). Default true.
   */
  timeoutApplies?: boolean;
  /** Delay before answering, in milliseconds. */
  latencyMs?: number;
  seed?: number;
}

/** mulberry32: a tiny seeded generator, so injected faults are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickFault(
  options: FaultOptions,
  keys: readonly string[],
  random: () => number,
): Fault | null {
  for (const key of keys) {
    const fault = options.forKeys?.[key];
    if (fault) return fault;
    const first = options.once?.[key];
    if (first && options.once) {
      delete options.once[key];
      return first;
    }
  }
  const rates = options.rates ?? {};
  const draw = random();
  let edge = 0;
  for (const name of ['gone', 'throttle', 'error', 'timeout'] as const) {
    edge += rates[name] ?? 0;
    if (draw < edge) return name;
  }
  return null;
}

export interface FaultAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answer for a fault other than `timeout`. */
export function faultAnswer(
  fault: Exclude<Fault, 'timeout'>,
  retryAfterSeconds: number | undefined,
): FaultAnswer {
  const retryAfter: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
  if (fault === 'gone') return { status: 410, headers: {}, body: 'endpoint disabled' };
  if (fault === 'throttle') return { status: 429, headers: retryAfter, body: 'slow down' };
  if (fault === 'error') return { status: 503, headers: retryAfter, body: 'upstream unavailable' };
  return { status: fault.status, headers: fault.headers ?? {}, body: fault.body ?? '' };
}
