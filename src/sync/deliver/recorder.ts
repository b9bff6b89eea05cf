import type { Store } from '../../db/client.ts';
import { type RecordResult, recordResults } from './outbox.ts';

/** Records outcomes; resolves only once the transaction holding them has committed. */
export interface GroupRecorder {
  record(results: readonly RecordResult[]): Promise<void>;
}

/**
 * Outcomes per statement. A group of large batches (two of 5,000 records) is written in several
 * statements: one statement's parameters, JSON text of every outcome, must stay under V8's regular object
 * size (128 KiB) or it is allocated in the old generation, where a million-record run left hundreds of
 * megabytes of such strings for the next full GC. Each statement still records its outcomes and advances
 * the snapshot for exactly those records, atomically (invariant 2).
 */
const STATEMENT_RESULTS = 1000;

interface Waiter {
  results: readonly RecordResult[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: outcomes of batches that finish close together are written in one transaction (with
 * the snapshot advance for exactly those records, invariant 2), instead of one transaction per batch.
 * One-record-per-request destinations otherwise spend more time committing than sending. Transactions
 * run one at a time: results that arrive while one commits wait for it and go together in the next.
 * A group is written at once when `groupSize` batches are waiting (no more can arrive soon, every slot
 * is waiting), else after `maxDelayMs`.
 */
export function createGroupRecorder(
  store: Store,
  run: { id: string; syncId: string; workerId: string },
  options: { groupSize: number; maxDelayMs: number; parallel: number },
): GroupRecorder {
  let waiting: Waiter[] = [];
  let active = 0;
  let timer: NodeJS.Timeout | undefined;

  // A loop, not a recursive call: an awaited commit() per group kept every earlier group's frame (and
  // its outcomes) alive for as long as full groups kept coming, so memory grew with the run's size.
  const commit = async () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (active >= options.parallel) return;
    while (waiting.length > 0) {
      active += 1;
      const group = waiting;
      waiting = [];
      try {
        const results = group.flatMap((w) => w.results);
        for (let at = 0; at < results.length; at += STATEMENT_RESULTS) {
          await recordResults(store, run, results.slice(at, at + STATEMENT_RESULTS));
        }
        for (const w of group) w.resolve();
      } catch (error) {
        for (const w of group) w.reject(error);
      } finally {
        active -= 1;
      }
      // What arrived during the commit waits for a full group or the delay, like any other result: fewer,
      // larger statements leave the event loop to the requests.
      if (waiting.length < options.groupSize) {
        if (waiting.length > 0) timer ??= setTimeout(start, options.maxDelayMs);
        return;
      }
    }
  };
  const start = () => {
    commit().catch(() => {
      // commit() settles every waiter itself; nothing is left to report here.
    });
  };

  return {
    record(results) {
      if (results.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        waiting.push({ results, resolve, reject });
        if (active >= options.parallel) return;
        if (waiting.length >= options.groupSize) start();
        else timer ??= setTimeout(start, options.maxDelayMs);
      });
    },
  };
}
