import PQueue from 'p-queue';
import type { Capabilities, Connector, DestinationClient, WriteContext } from '../../../connectors/types.ts';
import type { Store } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import { isCancelRequested } from '../queue.ts';
import { type BatchEnv, deliverBatch, type StopReason } from './batch.ts';
import type { LimiterRegistry } from './limiters.ts';
import {
  addProgress,
  changeBytes,
  LeaseLostError,
  type OutboxRecord,
  type RecordResult,
  readPendingPage,
  recordResults,
  toChange,
} from './outbox.ts';
import type { Clock, RetryPolicy } from './retry.ts';

export type { StopReason } from './batch.ts';

const PROGRESS_EVERY_MS = 500;

export interface DeliverInput {
  store: Store;
  run: { id: string; syncId: string; workerId: string };
  connector: Connector;
  config: unknown;
  client: DestinationClient;
  context: WriteContext;
  limiters: LimiterRegistry;
  policy: RetryPolicy;
  clock: Clock;
  logger: Logger;
  /** Graceful stop: send nothing new, let in-flight batches record, leave the rest pending. */
  drain: AbortSignal;
  /** Called after the run's progress counts are written (at most every PROGRESS_EVERY_MS). */
  onBatch?: () => void;
}

/** How delivery ended: `done` when the outbox is empty of sendable records. */
export type DeliveryEnd = { kind: 'done' } | StopReason;

/**
 * Delivers a run's pending records: keyset pages from the outbox, packed into batches within the
 * connector's caps, sent through a concurrency queue and the credential's rate limiter, each batch's
 * outcomes recorded in one transaction. Throws LeaseLostError if another worker took the run over.
 */
export async function deliverRun(input: DeliverInput): Promise<DeliveryEnd> {
  const { store, run, connector, config, context } = input;
  const caps = connector.capabilities(config);
  const limits = connector.limits(config);
  const limiter = input.limiters.get(connector.credentialKey(config), limits);
  const concurrency = Math.max(1, limits.maxConcurrent);
  const queue = new PQueue({ concurrency });
  const halt = new AbortController();
  let stop: StopReason | undefined;
  let failure: unknown;
  const setStop = (reason: StopReason) => {
    stop ??= reason;
    halt.abort();
  };
  const onDrain = () => setStop({ kind: 'drain' });
  input.drain.addEventListener('abort', onDrain, { once: true });
  context.signal.addEventListener('abort', () => halt.abort(), { once: true });
  if (input.drain.aborted) onDrain();

  const env: BatchEnv = {
    client: input.client,
    limiter,
    context,
    policy: input.policy,
    clock: input.clock,
    logger: input.logger,
    halt: halt.signal,
    stopped: () => stop,
    stop: setStop,
    async record(results) {
      await recordResults(store, run, results);
      for (const r of results) delta[r.status] += 1;
      if (Date.now() - lastFlush >= PROGRESS_EVERY_MS) await flushProgress();
    },
  };
  // Progress is written at most every PROGRESS_EVERY_MS, not per batch: one hot row updated by every
  // batch would serialise their commits.
  const delta = { accepted: 0, rejected: 0 };
  let lastFlush = 0;
  let flushing: Promise<void> | undefined;
  const flushProgress = async (): Promise<void> => {
    while (flushing) await flushing;
    if (delta.accepted + delta.rejected === 0) return;
    const sending = { ...delta };
    delta.accepted = 0;
    delta.rejected = 0;
    lastFlush = Date.now();
    flushing = addProgress(store, run, sending).then((held) => {
      if (!held) throw new LeaseLostError(`run ${run.id} is no longer held by ${run.workerId}`);
      input.onBatch?.();
    });
    try {
      await flushing;
    } finally {
      flushing = undefined;
    }
  };
  const dispatch = (batch: OutboxRecord[]) => {
    queue
      .add(() => deliverBatch(env, batch))
      .catch((error: unknown) => {
        failure ??= error;
        halt.abort();
      });
  };

  // A page holds a few rounds of batches for every slot, so the queue never starves between pages.
  const pageSize = Math.min(10_000, Math.max(100, caps.maxBatchRecords * concurrency * 2));
  let afterId = 0;
  try {
    outer: while (!stop && !failure && !context.signal.aborted) {
      const page = await readPendingPage(store, run.id, afterId, pageSize);
      if (page.length === 0) break;
      afterId = page[page.length - 1]?.id ?? afterId;
      const { batches, oversize } = packBatches(page, caps);
      if (oversize.length > 0) await env.record(oversize);
      for (const batch of batches) {
        // Backpressure: at most one waiting batch per slot, so memory is bounded by batch sizes.
        await queue.onSizeLessThan(concurrency);
        if (stop || failure || context.signal.aborted) break outer;
        if (await isCancelRequested(store, run.id)) {
          setStop({ kind: 'cancelled' });
          break outer;
        }
        dispatch(batch);
      }
    }
    await queue.onIdle();
  } finally {
    input.drain.removeEventListener('abort', onDrain);
  }
  if (failure) throw failure;
  if (!context.signal.aborted) await flushProgress();
  if (!stop && context.signal.aborted) return { kind: 'drain' };
  // A cancel that arrived while the last batches were in flight still counts.
  if (!stop && (await isCancelRequested(store, run.id))) stop = { kind: 'cancelled' };
  return stop ?? { kind: 'done' };
}

/**
 * Packs records in outbox order into batches under both caps. A record that alone exceeds the byte cap
 * can never be sent, so it is rejected at once with the sizes, instead of failing a batch on every run.
 */
export function packBatches(
  records: OutboxRecord[],
  caps: Pick<Capabilities, 'maxBatchRecords' | 'maxBatchBytes'>,
): { batches: OutboxRecord[][]; oversize: RecordResult[] } {
  const batches: OutboxRecord[][] = [];
  const oversize: RecordResult[] = [];
  let current: OutboxRecord[] = [];
  let bytes = 2;
  for (const record of records) {
    const size = changeBytes(toChange(record)) + 1;
    if (size > caps.maxBatchBytes) {
      oversize.push({
        record,
        status: 'rejected',
        attempts: 0,
        reason: `record is ${size} bytes, over the destination's limit of ${caps.maxBatchBytes} bytes per request`,
      });
      continue;
    }
    if (current.length >= caps.maxBatchRecords || (current.length > 0 && bytes + size > caps.maxBatchBytes)) {
      batches.push(current);
      current = [];
      bytes = 2;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return { batches, oversize };
}
