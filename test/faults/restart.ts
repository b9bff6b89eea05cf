import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Store } from '../../src/db/store.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../emulators/webhook/server.ts';
import { expectedNames, receivedNames, signingSecret, webhookSyncSpec } from './chaos.ts';
import {
  compareMaps,
  createContactsTable,
  createScratchDatabase,
  createStateStore,
  enqueue,
  insertSync,
  type RunRow,
  spawnWorker,
  type WorkerProcess,
  waitForRun,
  waitUntil,
} from './harness.ts';
import type { ScenarioContext, ScenarioResult } from './scenario.ts';

const run = promisify(execFile);
const pgBin = '/usr/lib/postgresql/15/bin';

/**
 * The state store goes away in the middle of a run's delivery. Two ways: every connection of the
 * worker terminated (`pg_terminate_backend`), and a real fast restart of a private Postgres cluster
 * started for this scenario (never the shared server). The run must fail or resume cleanly, and a
 * later run converge: the receiver equals the model and the snapshot holds every row once.
 */

interface PrivateCluster {
  url: string;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** initdb refuses root, so the cluster runs as the `postgres` user when this script is root. */
/** runuser lives in sbin, which a CI job's PATH may leave out. */
const runuser =
  ['/usr/sbin/runuser', '/sbin/runuser'].find((candidate) => existsSync(candidate)) ?? 'runuser';

async function asPostgres(command: string, args: string[]): Promise<void> {
  const isRoot = process.getuid?.() === 0;
  if (isRoot) await run(runuser, ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}

async function startPrivateCluster(): Promise<PrivateCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ebb-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = path.join(dir, 'data');
  await asPostgres(path.join(pgBin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres']);
  // Ports below the kernel's ephemeral range (32768 and up here), so no client connection holds one
  // when the cluster starts or restarts; a port another program listens on is retried with another.
  let port = 0;
  let options: string[] = [];
  for (let attempt = 1; ; attempt++) {
    port = 20_000 + Math.floor(Math.random() * 12_000);
    options = ['-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-l', path.join(dir, 'log')];
    try {
      await asPostgres(path.join(pgBin, 'pg_ctl'), ['-D', data, ...options, 'start', '-w']);
      break;
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: () =>
      asPostgres(path.join(pgBin, 'pg_ctl'), ['-D', data, ...options, 'restart', '-m', 'fast', '-w']),
    async destroy() {
      await asPostgres(path.join(pgBin, 'pg_ctl'), ['-D', data, 'stop', '-m', 'immediate']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Outcome {
  runs: RunRow[];
  workerExits: number;
}

/**
 * Starts a worker, lets it deliver part of the run, applies `fault`, then runs the sync until it has
 * converged (at most three runs). A worker that exits is restarted, as a supervisor would.
 */
async function faultMidDelivery(
  store: Store,
  stateUrl: string,
  syncId: string,
  receiver: WebhookReceiver,
  logFile: string,
  fault: () => Promise<void>,
): Promise<Outcome> {
  let workerExits = 0;
  let worker: WorkerProcess;
  let stopping = false;
  const supervise = (): WorkerProcess => {
    const started = spawnWorker({ databaseUrl: stateUrl, leaseSeconds: 2, logFile });
    started.exited.then(
      () => {
        if (stopping) return;
        workerExits += 1;
        worker = supervise();
      },
      () => {},
    );
    return started;
  };
  worker = supervise();
  const runs: RunRow[] = [];
  try {
    const first = await enqueue(store, syncId);
    await waitUntil(() => receiver.stats.requests >= 40, 120_000, 'the first deliveries');
    await fault();
    runs.push(await waitForRun(store, first, 180_000));
    while (runs.length < 3 && runs.at(-1)?.status !== 'succeeded') {
      runs.push(await waitForRun(store, await enqueue(store, syncId), 180_000));
    }
  } finally {
    stopping = true;
    await worker.stop();
  }
  return { runs, workerExits };
}

async function verdict(
  store: Store,
  syncId: string,
  receiver: WebhookReceiver,
  rows: number,
  outcome: Outcome,
) {
  const diff = compareMaps(expectedNames(rows, 1), receivedNames(receiver), (a, b) => a === b);
  const [snapshot] = await store.query<{ n: string; keys: string }>(
    'select count(*) as n, count(distinct pk) as keys from sync_snapshots where sync_id = $1',
    [syncId],
  );
  const [stuck] = await store.query<{ n: string }>(
    `select count(*) as n from sync_runs where sync_id = $1 and status in ('queued', 'running')`,
    [syncId],
  );
  const last = outcome.runs.at(-1);
  const ok =
    last?.status === 'succeeded' &&
    diff.missing + diff.extra + diff.wrong === 0 &&
    Number(snapshot?.n) === rows &&
    Number(snapshot?.keys) === rows &&
    Number(stuck?.n) === 0;
  return { ok, diff, statuses: outcome.runs.map((r) => `${r.status}/${r.attempt}`).join(',') };
}

export async function postgresRestartScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const rows = 30_000;
  const warehouse = await createScratchDatabase(ctx.baseUrl, 'ebb_wh');
  await createContactsTable(warehouse.url, 'contacts', rows);
  const sql = 'select id, email, first_name from contacts';
  const fields: Record<string, string | number> = {};
  let ok = true;
  let runs = 0;
  let lost = 0;
  let duplicates = 0;
  try {
    // 1. Every connection of the worker to the state store is terminated mid-delivery.
    {
      const receiver = await startWebhookReceiver({ secrets: [signingSecret], faults: { latencyMs: 20 } });
      const { db, store } = await createStateStore(ctx.baseUrl);
      try {
        const syncId = await insertSync(store, webhookSyncSpec(warehouse.url, `${receiver.url}/h`, sql, 50));
        let terminated = 0;
        const outcome = await faultMidDelivery(
          store,
          db.url,
          syncId,
          receiver,
          path.join(ctx.logDir, 'postgres-terminate.log'),
          async () => {
            const [row] = await store.query<{ n: string }>(
              `select count(pg_terminate_backend(pid)) as n from pg_stat_activity
               where datname = $1 and application_name = 'ebb'`,
              [db.name],
            );
            terminated = Number(row?.n);
          },
        );
        const result = await verdict(store, syncId, receiver, rows, outcome);
        ok &&= result.ok && terminated > 0;
        runs += outcome.runs.length;
        lost += result.diff.missing;
        duplicates += receiver.stats.duplicates;
        fields.terminated = terminated;
        fields.terminate_runs = result.statuses;
        fields.terminate_worker_exits = outcome.workerExits;
      } finally {
        await receiver.close();
        await store.close();
        await db.drop();
      }
    }
    // 2. A real fast restart of a private cluster that holds the state store.
    {
      const cluster = await startPrivateCluster();
      const receiver = await startWebhookReceiver({ secrets: [signingSecret], faults: { latencyMs: 20 } });
      const { db, store } = await createStateStore(cluster.url);
      try {
        const syncId = await insertSync(store, webhookSyncSpec(warehouse.url, `${receiver.url}/h`, sql, 50));
        const outcome = await faultMidDelivery(
          store,
          db.url,
          syncId,
          receiver,
          path.join(ctx.logDir, 'postgres-restart.log'),
          () => cluster.restart(),
        );
        const result = await verdict(store, syncId, receiver, rows, outcome);
        ok &&= result.ok;
        runs += outcome.runs.length;
        lost += result.diff.missing;
        duplicates += receiver.stats.duplicates;
        fields.restart_runs = result.statuses;
        fields.restart_worker_exits = outcome.workerExits;
      } finally {
        await receiver.close();
        await store.close();
        await db.drop().catch(() => {});
        await cluster.destroy();
      }
    }
  } finally {
    await warehouse.drop();
  }
  return { ok, fields: { runs, lost, duplicates, ...fields } };
}
