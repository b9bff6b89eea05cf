import type {
  BatchFailure,
  DestinationClient,
  RecordOutcome,
  WriteContext,
  WriteResult,
} from '../../../connectors/types.ts';
import type { Logger } from '../../logger.ts';
import type { Limiter } from './limiters.ts';
import { type OutboxRecord, type RecordResult, toChange } from './outbox.ts';
import { type Clock, canRetry, type RetryPolicy, retryDelayMs } from './retry.ts';

/** Why delivery stopped before the outbox was empty. */
export type StopReason =
  | { kind: 'quota'; reason: string; resetAt?: Date }
  | { kind: 'fatal'; reason: string; pauseSync: boolean }
  | { kind: 'cancelled' }
  | { kind: 'drain' };

/** What one batch's delivery shares with the rest of the run. */
export interface BatchEnv {
  client: DestinationClient;
  limiter: Limiter;
  context: WriteContext;
  policy: RetryPolicy;
  clock: Clock;
  logger: Logger;
  /** Aborts waits (and skips further attempts) once the run is stopping for any reason. */
  halt: AbortSignal;
  stopped(): StopReason | undefined;
  stop(reason: StopReason): void;
  record(results: RecordResult[]): Promise<void>;
}

interface Retryable {
  record: OutboxRecord;
  reason: string;
  waitMs?: number;
}

/**
 * Sends one batch until every record has a final outcome or the run stops: retries transient failures
 * with backoff, splits batches the destination refuses whole, and matches outcomes by key. Records it
 * cannot finish stay pending in the outbox (nothing is lost).
 */
export async function deliverBatch(
  env: BatchEnv,
  records: OutboxRecord[],
  unclear: Set<number> = new Set(),
): Promise<void> {
  // Records sent at least once without a clear answer (a transient failure, a missing or retryable
  // outcome): the destination may have applied them. In mirror mode a later rejection then still leaves
  // the key in the snapshot as unknown, or removing the row from the model would never delete it.
  const settle = (results: RecordResult[]): RecordResult[] =>
    env.context.mode !== 'mirror'
      ? results
      : results.map((r) =>
          r.status === 'rejected' && unclear.has(r.record.id) ? { ...r, mayExist: true } : r,
        );
  const startedAt = env.clock.now();
  const attempts = new Map(records.map((r) => [r.id, 0]));
  let todo = records;
  for (let retry = 0; todo.length > 0; retry++) {
    if (env.stopped() || env.context.signal.aborted) return;
    const result = await send(env, todo);
    if (result === 'not-sent') return;
    for (const r of todo) attempts.set(r.id, (attempts.get(r.id) ?? 0) + 1);
    // After a hard abort (lease lost, process stopping) only outcomes the destination already gave are
    // still recorded, fenced on the lease (a run taken over records nothing); the rest is re-sent by the
    // next owner.
    if (env.context.signal.aborted && !result.ok) return;
    let retryable: Retryable[];
    if (!result.ok) {
      const failure = result.failure;
      if (isStopping(failure)) {
        env.stop(stopReasonOf(failure));
        return;
      }
      if (failure.kind === 'split') {
        if (todo.length === 1) {
          await env.record(settle(rejectAll(todo, attempts, failure.reason)));
          return;
        }
        const half = Math.ceil(todo.length / 2);
        await deliverBatch(env, todo.slice(0, half), unclear);
        await deliverBatch(env, todo.slice(half), unclear);
        return;
      }
      retryable = todo.map((record) => ({ record, reason: failure.reason, waitMs: failure.waitMs }));
    } else {
      const matched = matchOutcomes(todo, result.outcomes, attempts, env.logger);
      await env.record(settle(matched.final));
      retryable = matched.retryable;
    }
    for (const r of retryable) unclear.add(r.record.id);
    if (retryable.length === 0 || env.context.signal.aborted) return;
    const waitMs = Math.max(0, ...retryable.map((r) => r.waitMs ?? 0));
    const delay = retryDelayMs(retry, waitMs, env.policy, env.clock.random);
    const made = Math.max(...retryable.map((r) => attempts.get(r.record.id) ?? 0));
    if (!canRetry(made, startedAt, delay, env.policy, env.clock.now())) {
      await env.record(
        retryable.map((r) => ({
          record: r.record,
          status: 'rejected',
          attempts: attempts.get(r.record.id) ?? 0,
          reason: `retries exhausted: ${r.reason}`,
          // Every attempt was sent and none got a clear answer; in mirror mode the snapshot must know
          // the destination may hold the record, or removing it from the model would never delete it.
          mayExist: env.context.mode === 'mirror',
        })),
      );
      return;
    }
    env.logger.debug({ records: retryable.length, delay, retry }, 'retrying after a transient failure');
    await env.clock.sleep(delay, env.halt);
    todo = retryable.map((r) => r.record);
  }
}

/**
 * One request through the credential's limiter. A connector that throws is treated as transient. A
 * batch whose turn comes after the run began to stop is not sent at all (it stays pending).
 */
async function send(env: BatchEnv, records: OutboxRecord[]): Promise<WriteResult | 'not-sent'> {
  try {
    return await env.limiter.schedule(async () => {
      if (env.stopped() || env.context.signal.aborted) return 'not-sent' as const;
      const result = await env.client.write(records.map(toChange), env.context);
      // Stop before the limiter hands the slot on, so no request follows a spent quota or a fatal
      // error except those already in flight.
      if (!result.ok && isStopping(result.failure)) env.stop(stopReasonOf(result.failure));
      return result;
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    env.logger.warn({ err: error, records: records.length }, 'connector threw while writing a batch');
    return { ok: false, failure: { kind: 'retry', reason: `connector error: ${message}` } };
  }
}

type StoppingFailure = Extract<BatchFailure, { kind: 'quota' | 'fatal' }>;

/** A spent quota or a fatal error stops the whole run, not just the batch. */
function isStopping(failure: BatchFailure): failure is StoppingFailure {
  return failure.kind === 'quota' || failure.kind === 'fatal';
}

function stopReasonOf(failure: StoppingFailure): StopReason {
  return failure.kind === 'quota'
    ? { kind: 'quota', reason: failure.reason, resetAt: failure.resetAt }
    : { kind: 'fatal', reason: failure.reason, pauseSync: failure.pauseSync ?? false };
}

function rejectAll(records: OutboxRecord[], attempts: Map<number, number>, reason: string): RecordResult[] {
  return records.map((record) => ({
    record,
    status: 'rejected',
    attempts: attempts.get(record.id) ?? 0,
    reason,
  }));
}

/**
 * Outcomes are matched by key, never by position (HubSpot shuffles results). A missing outcome, or two
 * that disagree, is the connector's bug: the record is retried, and rejected if it never gets a clear
 * answer. An outcome for a key that was not sent is logged and ignored.
 */
export function matchOutcomes(
  records: OutboxRecord[],
  outcomes: readonly RecordOutcome[],
  attempts: Map<number, number>,
  logger: Logger,
): { final: RecordResult[]; retryable: Retryable[] } {
  const sent = new Set(records.map((r) => r.pk));
  const byKey = new Map<string, RecordOutcome | 'conflict'>();
  for (const outcome of outcomes) {
    if (!sent.has(outcome.key)) {
      logger.error({ key: outcome.key }, 'connector returned an outcome for a record it was not sent');
      continue;
    }
    const seen = byKey.get(outcome.key);
    if (seen === undefined) byKey.set(outcome.key, outcome);
    else if (seen === 'conflict' || seen.status !== outcome.status) byKey.set(outcome.key, 'conflict');
  }
  const final: RecordResult[] = [];
  const retryable: Retryable[] = [];
  for (const record of records) {
    const outcome = byKey.get(record.pk);
    const tries = attempts.get(record.id) ?? 0;
    if (outcome === undefined) {
      retryable.push({ record, reason: 'the connector returned no outcome for this record' });
    } else if (outcome === 'conflict') {
      retryable.push({ record, reason: 'the connector returned conflicting outcomes for this record' });
    } else if (outcome.status === 'accepted') {
      final.push({
        record,
        status: 'accepted',
        attempts: tries,
        destinationRecordId: outcome.destinationRecordId ?? null,
      });
    } else if (outcome.status === 'rejected') {
      final.push({ record, status: 'rejected', attempts: tries, reason: outcome.reason });
    } else {
      retryable.push({ record, reason: outcome.reason, waitMs: outcome.waitMs });
    }
  }
  return { final, retryable };
}
