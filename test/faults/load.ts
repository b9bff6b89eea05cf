import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectors } from '../../connectors/index.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { openRuntime } from '../../src/runtime.ts';
import { warehouseDrivers } from '../../src/warehouses/index.ts';
import { createEngineDeps } from '../../src/worker/engine-deps.ts';
import { startWorker } from '../../src/worker/worker.ts';
import {
  createContactsTable,
  createScratchDatabase,
  createStateStore,
  insertSync,
  repoRoot,
  secretKeyBase64,
  spawnWorker,
  waitUntil,
} from './harness.ts';

/**
 * `npm run test:load`: the API (its own process) under 200 concurrent clients for 30 s while two worker
 * processes run 4 syncs back to back into a webhook receiver; then 30 consecutive API-triggered runs
 * executed by a worker in this process, sampling its memory after runs 1, 10, 20 and 30. Ends with one
 * summary line; the exit code is non-zero on any API error or when memory keeps growing.
 */

const clients = Number(process.env.LOAD_CLIENTS || 200);
const seconds = Number(process.env.LOAD_SECONDS || 30);
const consecutiveRuns = 30;
const adminKey = 'ebb_load_admin_key_0123456789abcdef';

/** A receiver that only counts: the load script measures Ebb, not the emulator's bookkeeping. */
async function countingReceiver(): Promise<{ url: string; count: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    count: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function main(): Promise<number> {
  const baseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const logDir = await mkdtemp(path.join(tmpdir(), 'ebb-load-'));
  const warehouse = await createScratchDatabase(baseUrl, 'ebb_wh');
  const { db, store } = await createStateStore(baseUrl);
  const receiver = await countingReceiver();
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const api = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  const apiLog = createWriteStream(path.join(logDir, 'api.log'));
  const apiProcess = spawn(
    process.execPath,
    ['--no-warnings', '--max-semi-space-size=16', '--heap-growing-percent=50', 'src/cli/main.ts', 'api'],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        EBB_SECRET_KEY: secretKeyBase64,
        EBB_ADMIN_KEY: adminKey,
        EBB_SCHEDULER: 'false',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  apiProcess.stdout?.pipe(apiLog);
  apiProcess.stderr?.pipe(apiLog);
  const workers = [0, 1].map((i) =>
    spawnWorker({ databaseUrl: db.url, leaseSeconds: 10, logFile: path.join(logDir, `worker-${i}.log`) }),
  );
  try {
    // Every run changes every row (the model stamps the statement time), so each run sends it all.
    await createContactsTable(warehouse.url, 'contacts', 20_000);
    const syncIds: string[] = [];
    for (let s = 0; s < 4; s++) {
      syncIds.push(
        await insertSync(store, {
          warehouseUrl: warehouse.url,
          sql: `select id, email, first_name || '-' || (extract(epoch from now()) * 1000)::bigint as first_name
                from contacts where id % 4 = ${s}`,
          destinationKind: 'webhook',
          destination: {
            url: receiver.url,
            batchSize: 100,
            limits: { requestsPerInterval: 100_000, intervalMs: 1000, maxConcurrent: 4 },
          },
          secretFields: ['secretHeaders', 'signingSecret'],
          object: 'contacts',
          mode: 'upsert',
          mappings: [
            { from: 'email', to: 'email' },
            { from: 'first_name', to: 'first_name' },
          ],
        }),
      );
    }
    await waitUntil(
      () =>
        fetch(`${api}/health`).then(
          (r) => r.ok,
          () => false,
        ),
      60_000,
      'the API to start',
    );

    const triggerAndWait = async (syncId: string, until: number): Promise<string> => {
      const started = await fetch(`${api}/v1/syncs/${syncId}/runs`, { method: 'POST', headers, body: '{}' });
      const run = (await started.json()) as { id?: string };
      if (started.status !== 202 || !run.id) throw new Error(`trigger answered ${started.status}`);
      for (;;) {
        const read = await fetch(`${api}/v1/runs/${run.id}`, { headers });
        const view = (await read.json()) as { status?: string };
        if (view.status && !['queued', 'running'].includes(view.status)) return view.status;
        if (Date.now() > until) throw new Error(`run ${run.id} did not finish in time`);
        await sleep(200);
      }
    };

    // Phase 1: the API under load while the four syncs run back to back.
    const latencies: number[] = [];
    const byRoute = new Map<string, number[]>();
    let errors = 0;
    let requests = 0;
    const errorKinds = new Map<string, number>();
    const loadEnds = Date.now() + seconds * 1000;
    const paths = [
      '/v1/syncs',
      ...syncIds.map((id) => `/v1/syncs/${id}`),
      ...syncIds.map((id) => `/v1/syncs/${id}/runs`),
      '/health',
    ];
    const client = async (n: number) => {
      for (let i = n; Date.now() < loadEnds; i++) {
        const target = paths[i % paths.length] ?? '/health';
        const started = performance.now();
        requests += 1;
        try {
          const response = await fetch(`${api}${target}`, { headers });
          await response.arrayBuffer();
          const ms = performance.now() - started;
          latencies.push(ms);
          const route = target.replace(/syn_[a-z0-9]+/, '{id}');
          const times = byRoute.get(route) ?? [];
          times.push(ms);
          byRoute.set(route, times);
          if (!response.ok) {
            errors += 1;
            errorKinds.set(String(response.status), (errorKinds.get(String(response.status)) ?? 0) + 1);
          }
        } catch (error) {
          errors += 1;
          const kind =
            error instanceof Error ? ((error.cause as { code?: string })?.code ?? error.message) : 'error';
          errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
        }
      }
    };
    const syncRuns: string[] = [];
    const syncLoop = async (syncId: string) => {
      while (Date.now() < loadEnds) syncRuns.push(await triggerAndWait(syncId, loadEnds + 120_000));
    };
    const loadStarted = Date.now();
    await Promise.all([
      ...Array.from({ length: clients }, (_, n) => client(n)),
      ...syncIds.map((id) => syncLoop(id)),
    ]);
    const elapsed = (Date.now() - loadStarted) / 1000;
    latencies.sort((a, b) => a - b);
    const [loadAverage] = loadavg();
    process.stdout.write(
      `load: phase=api load_average=${loadAverage?.toFixed(1)} clients=${clients} seconds=${seconds} requests=${requests} errors=${errors}` +
        ` rps=${(latencies.length / elapsed).toFixed(0)} p50_ms=${percentile(latencies, 50).toFixed(1)}` +
        ` p99_ms=${percentile(latencies, 99).toFixed(1)} sync_runs=${syncRuns.length}` +
        ` sync_runs_succeeded=${syncRuns.filter((s) => s === 'succeeded').length}` +
        ` deliveries=${receiver.count()}${errorKinds.size > 0 ? ` error_kinds=${JSON.stringify(Object.fromEntries(errorKinds))}` : ''}\n`,
    );
    for (const [route, times] of byRoute) {
      times.sort((a, b) => a - b);
      process.stdout.write(
        `load: route=${route} requests=${times.length} p50_ms=${percentile(times, 50).toFixed(1)} p99_ms=${percentile(times, 99).toFixed(1)}\n`,
      );
    }
    await Promise.all(workers.map((w) => w.stop()));

    // Phase 2: 30 consecutive runs, triggered through the API, executed by a worker in this process.
    const runtime = await openRuntime(
      loadConfig({
        DATABASE_URL: db.url,
        EBB_SECRET_KEY: secretKeyBase64,
        EBB_ALLOW_PRIVATE_NETWORK: 'true',
        EBB_POLL_INTERVAL_MS: '100',
        EBB_WORKER_CONCURRENCY: '1',
      }),
      silentLogger,
    );
    const engine = createEngineDeps(runtime, { connectors, warehouses: warehouseDrivers });
    const worker = startWorker({ ...engine, ...runtime.config.worker });
    const gc = (globalThis as { gc?: () => void }).gc;
    const memory: Record<number, { rss: number; heap: number }> = {};
    const statuses: string[] = [];
    try {
      for (let run = 1; run <= consecutiveRuns; run++) {
        statuses.push(await triggerAndWait(syncIds[0] ?? '', Date.now() + 120_000));
        gc?.();
        const usage = process.memoryUsage();
        memory[run] = { rss: usage.rss, heap: usage.heapUsed };
      }
    } finally {
      await worker.stop();
      await engine.limiters.close();
      await runtime.store.close();
    }
    const at = (run: number) => memory[run] ?? { rss: 0, heap: 0 };
    // Flat: after warm-up (run 10), the heap grows by less than 16 MB over the next 20 runs.
    const flat = at(30).heap - at(10).heap < 16 * 1024 * 1024;
    const ok = errors === 0 && flat && statuses.every((s) => s === 'succeeded');
    process.stdout.write(
      `load: clients=${clients} seconds=${seconds} requests=${requests} errors=${errors}` +
        ` rps=${(latencies.length / elapsed).toFixed(0)} p50_ms=${percentile(latencies, 50).toFixed(1)}` +
        ` p99_ms=${percentile(latencies, 99).toFixed(1)} runs=${statuses.length}` +
        ` runs_succeeded=${statuses.filter((s) => s === 'succeeded').length}` +
        ` rss_mb_run1=${mb(at(1).rss)} rss_mb_run10=${mb(at(10).rss)} rss_mb_run20=${mb(at(20).rss)}` +
        ` rss_mb_run30=${mb(at(30).rss)} heap_mb_run1=${mb(at(1).heap)} heap_mb_run10=${mb(at(10).heap)}` +
        ` heap_mb_run20=${mb(at(20).heap)} heap_mb_run30=${mb(at(30).heap)} gc=${gc ? 'forced' : 'none'} ok=${ok}\n`,
    );
    return ok ? 0 : 1;
  } finally {
    await Promise.all(workers.map((w) => w.kill9()));
    apiProcess.kill('SIGTERM');
    await receiver.close();
    await store.close();
    await sleep(500);
    await db.drop();
    await warehouse.drop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
