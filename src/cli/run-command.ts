import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { connectors } from '../../connectors/index.ts';
import type { Config } from '../config.ts';
import type { RunCounts } from '../db/schema/index.ts';
import type { Logger } from '../logger.ts';
import { openRuntime } from '../runtime.ts';
import type { EngineDeps } from '../sync/context.ts';
import { enqueueRun } from '../sync/queue.ts';
import { warehouseDrivers } from '../warehouses/index.ts';
import { createEngineDeps } from '../worker/engine-deps.ts';
import { runNow } from '../worker/worker.ts';

export const runUsage = `Usage: ebb run <sync id or name> [--full-resync] [--dry-run] [--allow-mass-delete]

Runs one sync now, in this process, and prints its counts by outcome.
  --full-resync        resend every row, deleting nothing
  --dry-run            plan only: show what would change, send nothing
  --allow-mass-delete  let this run pass the mass-delete guard
Exit code 0 when the run succeeded, 1 when it was partial, failed or interrupted.`;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface CliRunOptions {
  fullResync?: boolean;
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /** Abort (Ctrl-C) to stop after in-flight batches and hand the run back to the queue. */
  drain?: AbortSignal;
}

export interface CliRunResult {
  exitCode: 0 | 1;
  runId?: string;
}

const outcomeOrder = ['accepted', 'rejected', 'invalid', 'pending', 'cancelled'] as const;

function table(rows: [string, number][]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => String(value).length));
  return rows
    .map(([label, value]) => `  ${label.padEnd(width)}  ${String(value).padStart(valueWidth)}`)
    .join('\n');
}

const toSend = (counts: RunCounts) =>
  counts.planned.insert + counts.planned.update + counts.planned.upsert + counts.planned.delete;

/**
 * Enqueues a run of the sync named by id or name (trigger `cli`), executes it here through the engine
 * with a progress bar on stderr, and prints the counts by outcome. The run goes through the same queue
 * as every other, so it waits for no worker and still keeps one active run per sync.
 */
export async function runSyncFromCli(
  engine: EngineDeps,
  ref: string,
  options: CliRunOptions,
  io: CliIo,
): Promise<CliRunResult> {
  const fail = (line: string, runId?: string): CliRunResult => {
    io.stderr.write(`ebb: ${line}\n`);
    return { exitCode: 1, runId };
  };
  const [sync] = await engine.store.query<{
    id: string;
    name: string;
    enabled: boolean;
    pausedReason: string | null;
  }>(
    `select id, name, enabled, paused_reason as "pausedReason" from syncs where id = $1 or name = $1
     order by (id = $1) desc limit 1`,
    [ref],
  );
  if (!sync) return fail(`no sync has the id or name "${ref}"`);
  if (!sync.enabled) return fail(`sync "${sync.name}" is disabled; enable it to run it`);
  if (sync.pausedReason)
    return fail(`sync "${sync.name}" is paused: ${sync.pausedReason}; enable it again to run it`);

  const queued = await enqueueRun(engine.store, {
    syncId: sync.id,
    trigger: 'cli',
    fullResync: options.fullResync,
    dryRun: options.dryRun,
    allowMassDelete: options.allowMassDelete,
  });
  let runId: string;
  if (queued.ok) {
    runId = queued.run.id;
    io.stderr.write(`Running sync "${sync.name}" (${runId})${options.dryRun ? ' as a dry run' : ''}\n`);
  } else if (queued.reason === 'active_run') {
    const adoptable = await adoptableRun(engine, queued.activeRunId, options);
    if (!adoptable) {
      return fail(
        `sync "${sync.name}" already has an active run (${queued.activeRunId})`,
        queued.activeRunId,
      );
    }
    // A run nobody is executing (still queued, or its process died) with the same options: run it here
    // rather than refuse, so an interrupted `ebb run` can simply be repeated.
    runId = queued.activeRunId;
    io.stderr.write(`Resuming run ${runId} of sync "${sync.name}", which no worker was executing\n`);
  } else {
    return fail(`sync "${sync.name}" could not be queued (${queued.reason})`);
  }

  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: '  {bar} {percentage}% | {value}/{total} records | {accepted} accepted, {rejected} rejected',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let planned = 0;
  // Before there is a plan there is no total to draw a bar against: count the model's rows instead.
  const onPlanProgress = ({ rowsRead }: { rowsRead: number }) => {
    if (started) return;
    planned = rowsRead;
    io.stderr.write(`\r  reading the model: ${rowsRead} rows`);
  };
  const onProgress = (counts: RunCounts) => {
    if (!started && planned > 0) io.stderr.write('\n');
    const payload = { accepted: counts.accepted, rejected: counts.rejected };
    const done = counts.accepted + counts.rejected;
    if (!started) {
      bar.start(Math.max(toSend(counts), 1), done, payload);
      started = true;
    } else {
      bar.setTotal(Math.max(toSend(counts), 1));
      bar.update(done, payload);
    }
  };
  const startedAt = Date.now();
  let outcome: Awaited<ReturnType<typeof runNow>>;
  try {
    outcome = await runNow(engine, runId, {
      onProgress,
      onPlanProgress,
      drain: options.drain,
      workerId: `cli-${process.pid}`,
    });
  } finally {
    if (started) bar.stop();
  }
  if (!outcome.ok) return fail(outcome.message, runId);

  const [run] = await engine.store.query<{ counts: RunCounts | null; errorMessage: string | null }>(
    'select counts, error_message as "errorMessage" from sync_runs where id = $1',
    [runId],
  );
  const byOutcome = new Map(
    (
      await engine.store.query<{ status: string; n: number }>(
        'select status, count(*)::int as n from run_records where run_id = $1 group by status',
        [runId],
      )
    ).map((r) => [r.status, r.n]),
  );
  const rows: [string, number][] = [];
  if (run?.counts) {
    const p = run.counts.planned;
    rows.push(['rows read', run.counts.rows], ['planned upserts', p.upsert], ['planned inserts', p.insert]);
    rows.push(['planned updates', p.update], ['planned deletes', p.delete], ['unchanged', p.unchanged]);
  }
  for (const status of outcomeOrder) rows.push([status, byOutcome.get(status) ?? 0]);
  io.stdout.write(`${table(rows)}\n`);

  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  const end = outcome.end;
  if (end.status === 'succeeded') {
    io.stderr.write(`Run ${runId} succeeded in ${seconds} s\n`);
    return { exitCode: 0, runId };
  }
  if (end.status === 'handed_back') {
    return fail(`run ${runId} interrupted; it went back to the queue and a worker will resume it`, runId);
  }
  if (end.status === 'lease_lost') return fail(`run ${runId} was taken over by another worker`, runId);
  const reason = end.message ?? run?.errorMessage ?? `${byOutcome.get('rejected') ?? 0} records rejected`;
  return fail(`run ${runId} ${end.status}: ${reason}`, runId);
}

/** Whether an active run is unowned (queued, or its lease expired) and asks for what this one asks. */
async function adoptableRun(engine: EngineDeps, runId: string, options: CliRunOptions): Promise<boolean> {
  const [run] = await engine.store.query<{
    claimable: boolean;
    fullResync: boolean;
    dryRun: boolean;
    allowMassDelete: boolean;
  }>(
    `select (status = 'queued' or (status = 'running' and lease_expires_at < now())) as claimable,
       full_resync as "fullResync", dry_run as "dryRun", allow_mass_delete as "allowMassDelete"
     from sync_runs where id = $1`,
    [runId],
  );
  return (
    run?.claimable === true &&
    run.fullResync === (options.fullResync ?? false) &&
    run.dryRun === (options.dryRun ?? false) &&
    run.allowMassDelete === (options.allowMassDelete ?? false)
  );
}

/** `ebb run`: opens the state store, runs the sync, closes everything; returns the exit code. */
export async function runCommand(config: Config, logger: Logger, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseRunArgs>;
  try {
    parsed = parseRunArgs(args);
  } catch (error) {
    process.stderr.write(`ebb: ${error instanceof Error ? error.message : String(error)}\n\n${runUsage}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${runUsage}\n`);
    return 0;
  }
  const runtime = await openRuntime(config, logger);
  const engine = createEngineDeps(runtime, { connectors, warehouses: warehouseDrivers });
  const drain = new AbortController();
  const onSignal = () => {
    if (drain.signal.aborted) process.exit(130);
    process.stderr.write('\nStopping after the batches in flight (Ctrl-C again to quit now)\n');
    drain.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runSyncFromCli(
      engine,
      parsed.ref,
      { ...parsed.options, drain: drain.signal },
      {
        stdout: process.stdout,
        stderr: process.stderr,
      },
    );
    return result.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await engine.limiters.close();
    await runtime.store.close();
  }
}

function parseRunArgs(args: string[]) {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      'full-resync': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'allow-mass-delete': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [ref, ...extra] = positionals;
  if (values.help) return { help: true as const, ref: '', options: {} };
  if (!ref) throw new Error('ebb run needs a sync id or name');
  if (extra.length > 0) throw new Error(`unexpected arguments: ${extra.join(' ')}`);
  return {
    help: false as const,
    ref,
    options: {
      fullResync: values['full-resync'] ?? false,
      dryRun: values['dry-run'] ?? false,
      allowMassDelete: values['allow-mass-delete'] ?? false,
    },
  };
}
