import PQueue from 'p-queue';
import type { Capabilities, Connector, DestinationClient, WriteContext } from '../../../connectors/types.ts';
import type { Store } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import { isCancelRequested } from '../queue.ts';
import { type BatchEnv, deliverBatch, type StopReason } from './batch.ts';
import type { LimiterRegistry } from './limiters.ts';
import {
  addProgress,
  LeaseLostError,
  type OutboxRecord,
  type RecordResult,
  readPendingPage,
  recordBytes,
} from './outbox.ts';
import { createGroupRecorder } from './recorder.ts';
import type { Clock, RetryPolicy } from './retry.ts';

export type { StopReason } from './batch.ts';

const PROGRESS_EVERY_MS = 500;
/** A cancel is noticed within this long; checking per batch cost one query per request. */
const CANCEL_CHECK_EVERY_MS = 500;
/**
 * Records whose outcomes may wait for a group commit while further requests go out. This is also the
 * bound on what a crash can make Ebb send twice (see `maxUnrecordedBatches`), so it is kept just large
 * enough for a fast one-record-per-request destination not to wait on commits.
 */
const RECORDING_RECORDS = 256;

function recordingSlotsFor(concurrency: number, maxBatchRecords: number): number {
  return Math.max(concurrency, Math.ceil(RECORDING_RECORDS / Math.max(1, maxBatchRecords)));
}

/**
 * The most batches that can have been sent but not yet recorded at any instant: the requests in flight
 * plus those waiting for their group's commit. A crash re-sends at most these (invariant 3's window).
 */
export function maxUnrecordedBatches(concurrency: number, maxBatchRecords: number): number {
  const slots = Math.max(1, concurrency);
  return slots + recordingSlotsFor(slots, maxBatchRecords);
}
/** How long a finished batch's outcomes may wait for others to share its transaction. */
const GROUP_COMMIT_DELAY_MS = 10;

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
  // The limiter caps requests in flight at `concurrency`; the queue admits more batches than that so the
  // next requests go out while finished batches wait for their group's commit. A commit takes a few ms,
  // in which a fast destination answers dozens of one-record requests: up to RECORDING_RECORDS records
  // may wait, so groups grow with the commit time instead of capping the send rate.
  const recordingSlots = recordingSlotsFor(concurrency, caps.maxBatchRecords);
  const queue = new PQueue({ concurrency: concurrency + recordingSlots });
  const recorder = createGroupRecorder(store, run, {
    // Half the records that may wait: larger groups mean fewer statements, and the other half keeps
    // requests going out while a group commits.
    groupSize: Math.max(concurrency, Math.floor(recordingSlots / 2)),
    maxDelayMs: GROUP_COMMIT_DELAY_MS,
    // Measured: two groups committing at once delivered less than one (the store is the bottleneck).
    parallel: 1,
  });
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
      await recorder.record(results);
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
  const pageSize = Math.min(10_000, Math.max(1000, caps.maxBatchRecords * concurrency * 2));
  let afterId = 0;
  // Cancellation is polled on a timer, not per batch: a batch whose turn comes after it was seen is not
  // sent (it stays pending and is marked cancelled), including batches already waiting in the limiter.
  let checking: Promise<void> | undefined;
  const checkCancel = () => {
    checking ??= isCancelRequested(store, run.id)
      .then((cancelled) => {
        if (cancelled) setStop({ kind: 'cancelled' });
      })
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };
  const cancelPoll = setInterval(() => {
    if (stop) return;
    checkCancel().catch((error: unknown) => {
      failure ??= error;
      halt.abort();
    });
  }, CANCEL_CHECK_EVERY_MS);
  try {
    await checkCancel();
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
        dispatch(batch);
      }
    }
    await queue.onIdle();
  } finally {
    clearInterval(cancelPoll);
    input.drain.removeEventListener('abort', onDrain);
    // A check still running must not touch the store after delivery returned; its error is recorded.
    await checking?.catch(() => undefined);
  }
  if (failure) throw failure;
  if (!context.signal.aborted) await flushProgress();
  if (!stop && context.signal.aborted) return { kind: 'drain' };
  // A cancel that arrived while the last batches were in flight still counts.
  if (!stop && (await isCancelRequested(store, run.id))) stop = { kind: 'cancelled' };
  return stop ?? { kind: 'done' };
}

/**
 * Which records may share a request. A connector turns one batch into one request per kind of call, and
 * the limiter counts one slot per batch, so a batch holds one kind only: one operation, and for updates
 * and deletes either all with a destination record id or all without (HubSpot updates and archives
 * those by id, the others by the identifier property, in separate calls).
 * The one exception left: a delete known only by its identifier makes two requests (HubSpot looks the
 * ids up with `batch/read`, then archives them), so such a batch uses one limiter slot for two requests;
 * the limiter's 3% margin and the rarity of identifier-only deletes keep that within the vendor's limit
 * in practice, and HubSpot's own 429 (honoured with Retry-After) covers the rest.
 */
function callKind(record: OutboxRecord): string {
  if (record.operation !== 'update' && record.operation !== 'delete') return record.operation;
  return `${record.operation}:${record.destinationRecordId === null ? 'key' : 'id'}`;
}

/**
 * Packs records into batches of a single kind under both caps, in outbox order within each kind. A
 * record that alone exceeds the byte cap can never be sent, so it is rejected at once with the sizes,
 * instead of failing a batch on every run.
 */
export function packBatches(
  records: OutboxRecord[],
  caps: Pick<Capabilities, 'maxBatchRecords' | 'maxBatchBytes'>,
): { batches: OutboxRecord[][]; oversize: RecordResult[] } {
  const batches: OutboxRecord[][] = [];
  const oversize: RecordResult[] = [];
  const open = new Map<string, { records: OutboxRecord[]; bytes: number }>();
  for (const record of records) {
    const size = recordBytes(record) + 1;
    if (size > caps.maxBatchBytes) {
      oversize.push({
        record,
        status: 'rejected',
        attempts: 0,
        reason: `record is ${size} bytes, over the destination's limit of ${caps.maxBatchBytes} bytes per request`,
      });
      continue;
    }
    const kind = callKind(record);
    let current = open.get(kind);
    if (
      current &&
      (current.records.length >= caps.maxBatchRecords ||
        (current.records.length > 0 && current.bytes + size > caps.maxBatchBytes))
    ) {
      batches.push(current.records);
      current = undefined;
    }
    if (!current) {
      current = { records: [], bytes: 2 };
      open.set(kind, current);
    }
    current.records.push(record);
    current.bytes += size;
  }
  for (const current of open.values()) if (current.records.length > 0) batches.push(current.records);
  return { batches, oversize };
}
