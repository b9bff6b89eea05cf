import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RunCounts } from '../db/schema/index.ts';
import type { ClaimedRun, EngineDeps } from '../sync/context.ts';
import { type ExecuteOptions, executeRun, type RunEnd } from '../sync/run.ts';
import { claimNextRun, claimRun, startHeartbeat } from './lease.ts';

export interface WorkerOptions {
  workerId?: string;
  /** Runs executed at once by this process. */
  concurrency: number;
  pollIntervalMs: number;
  leaseMs: number;
}

export interface Worker {
  readonly id: string;
  /** Stops claiming, lets in-flight batches record, hands unfinished runs back to the queue. */
  stop(): Promise<void>;
}

export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Runs one claimed run under a heartbeat; a lost lease aborts it locally. */
async function runClaimed(
  deps: EngineDeps,
  run: ClaimedRun,
  leaseMs: number,
  drain: AbortSignal,
  progress: Pick<ExecuteOptions, 'onProgress' | 'onPlanProgress'> = {},
): Promise<RunEnd> {
  const lost = new AbortController();
  const stopBeat = startHeartbeat(deps.store, run, leaseMs, lost, deps.logger);
  try {
    return await executeRun(deps, run, lost.signal, { drain, ...progress });
  } finally {
    stopBeat();
  }
}

/**
 * Polls the queue and executes up to `concurrency` runs at once. Coordination is only through the
 * database (claims with SKIP LOCKED, leases), so any number of workers on any machines can share a queue.
 */
export function startWorker(deps: EngineDeps & WorkerOptions): Worker {
  const id = deps.workerId ?? newWorkerId();
  const logger = deps.logger.child({ workerId: id });
  const drain = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = async () => {
    while (!drain.signal.aborted) {
      let claimed: ClaimedRun | undefined;
      if (inFlight.size < deps.concurrency) {
        try {
          claimed = await claimNextRun(deps.store, id, deps.leaseMs);
        } catch (error) {
          logger.error({ err: error }, 'claiming a run failed; retrying after the poll interval');
        }
      }
      if (!claimed) {
        await sleep(deps.pollIntervalMs);
        continue;
      }
      const run = claimed;
      logger.info(
        { runId: run.id, syncId: run.syncId, attempt: run.attempt, phase: run.phase },
        'claimed run',
      );
      const task = runClaimed(deps, run, deps.leaseMs, drain.signal).then(
        (end) => logger.info({ runId: run.id, ...end }, 'run ended'),
        (error: unknown) => logger.error({ err: error, runId: run.id }, 'run crashed'),
      );
      inFlight.add(task);
      task
        .finally(() => {
          inFlight.delete(task);
          wake?.();
        })
        .catch(() => {});
    }
  };
  const looping = loop();

  return {
    id,
    async stop() {
      drain.abort();
      wake?.();
      await looping;
      await Promise.all(inFlight);
    },
  };
}

export type RunNowResult =
  | { ok: true; end: RunEnd }
  | { ok: false; reason: 'not_claimable'; message: string };

/**
 * Executes one queued run in this process (the CLI's `ebb run --wait`), reporting counts as batches
 * land. Abort `drain` (e.g. on Ctrl-C) to stop after in-flight batches and hand the run back.
 */
export async function runNow(
  deps: EngineDeps,
  runId: string,
  options: {
    onProgress?: (counts: RunCounts) => void;
    /** Rows read so far while the run plans, before it has counts. */
    onPlanProgress?: (progress: { rowsRead: number }) => void;
    drain?: AbortSignal;
    leaseMs?: number;
    workerId?: string;
  } = {},
): Promise<RunNowResult> {
  const leaseMs = options.leaseMs ?? 30_000;
  const run = await claimRun(deps.store, runId, options.workerId ?? newWorkerId(), leaseMs);
  if (!run) {
    return {
      ok: false,
      reason: 'not_claimable',
      message: `run ${runId} is not queued (it does not exist, finished, or another worker holds it)`,
    };
  }
  const end = await runClaimed(deps, run, leaseMs, options.drain ?? new AbortController().signal, {
    onProgress: options.onProgress,
    onPlanProgress: options.onPlanProgress,
  });
  return { ok: true, end };
}
