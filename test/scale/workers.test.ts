import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/store.ts';
import { startHubspotEmulator } from '../emulators/hubspot/server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../emulators/webhook/server.ts';
import { expectedNames, receivedNames, signingSecret, webhookSyncSpec } from '../faults/chaos.ts';
import {
  createContactsTable,
  createScratchDatabase,
  createStateStore,
  enqueue,
  insertSync,
  type RunRow,
  repoRoot,
  type ScratchDatabase,
  spawnWorker,
  type WorkerProcess,
  waitForRun,
  waitUntil,
} from '../faults/harness.ts';

/**
 * Several worker processes on one Postgres queue. Separate OS processes coordinate only through the
 * database, so these tests need a real Postgres server and run only when DATABASE_URL is set.
 */

const base = process.env.DATABASE_URL;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<{
  store: Store;
  stateUrl: string;
  warehouse: ScratchDatabase;
  logDir: string;
}> {
  if (!base) throw new Error('DATABASE_URL is required');
  const warehouse = await createScratchDatabase(base, 'ebb_wh');
  cleanups.push(() => warehouse.drop());
  const { db, store } = await createStateStore(base);
  cleanups.push(async () => {
    await store.close();
    await db.drop();
  });
  const logDir = await mkdtemp(path.join(tmpdir(), 'ebb-scale-'));
  return { store, stateUrl: db.url, warehouse, logDir };
}

async function startWorkers(
  count: number,
  stateUrl: string,
  logDir: string,
  env: { redisUrl?: string; concurrency?: number } = {},
): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = [];
  const logs = Array.from({ length: count }, (_, i) => path.join(logDir, `worker-${i}.log`));
  for (let i = 0; i < count; i++) {
    workers.push(
      spawnWorker({
        databaseUrl: stateUrl,
        leaseSeconds: 1,
        logFile: logs[i] ?? '',
        entry: [path.join(repoRoot, 'test/scale/worker-entry.ts')],
        redisUrl: env.redisUrl,
        env: { EBB_WORKER_CONCURRENCY: String(env.concurrency ?? 2) },
      }),
    );
  }
  cleanups.push(async () => {
    await Promise.all(workers.map((w) => w.kill9()));
  });
  // Every process is polling before any run is queued, so they all compete for the runs.
  await waitUntil(
    async () => {
      const texts = await Promise.all(logs.map((file) => readFile(file, 'utf8').catch(() => '')));
      return texts.every((text) => text.includes('worker ready'));
    },
    45_000,
    'the worker processes to start',
  );
  return workers;
}

/** The worker process behind each request, in arrival order, for one model version. */
function deliveriesOf(receiver: WebhookReceiver, version: number): string[] {
  return receiver.requests
    .filter((r) => {
      const records = (r.json as { records?: { data?: { first_name?: string } }[] })?.records ?? [];
      return records.some((rec) => rec.data?.first_name?.startsWith(`V${version}-`));
    })
    .map((r) => String(r.headers['x-ebb-worker']));
}

/** `a a b b` is a hand-over; `a b a` would mean two processes delivered one run at the same time. */
function handOvers(pids: string[]): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  for (let i = 1; i < pids.length; i++) {
    const [prev, next] = [pids[i - 1], pids[i]];
    if (prev !== undefined && next !== undefined && prev !== next) out.push({ from: prev, to: next });
  }
  return out;
}

describe.runIf(Boolean(base))('many worker processes on one queue', () => {
  it('never runs one sync twice at once, and a killed worker’s run is resumed by another', async () => {
    const { store, stateUrl, warehouse, logDir } = await setup();
    const rows = 1500;
    const receivers: WebhookReceiver[] = [];
    const syncIds: string[] = [];
    for (let s = 0; s < 3; s++) {
      const receiver = await startWebhookReceiver({ secrets: [signingSecret], faults: { latencyMs: 10 } });
      cleanups.push(() => receiver.close());
      receivers.push(receiver);
      syncIds.push(
        await insertSync(
          store,
          webhookSyncSpec(
            warehouse.url,
            `${receiver.url}/hooks`,
            'select id, email, first_name from contacts',
            10,
          ),
        ),
      );
    }
    const workers = await startWorkers(3, stateUrl, logDir);
    const runs: RunRow[] = [];
    let killed: string | undefined;
    for (let version = 1; version <= 3; version++) {
      await createContactsTable(warehouse.url, 'contacts', rows, version);
      const runIds = await Promise.all(syncIds.map((id) => enqueue(store, id)));
      if (version === 2) {
        // Kill -9 whichever process is delivering the first sync, in the middle of its run.
        await waitUntil(
          () => deliveriesOf(receivers[0] as WebhookReceiver, 2).length >= 20,
          30_000,
          'deliveries',
        );
        killed = deliveriesOf(receivers[0] as WebhookReceiver, 2).at(-1);
        await workers.find((w) => String(w.child.pid) === killed)?.kill9();
      }
      for (const id of runIds) runs.push(await waitForRun(store, id, 45_000));
    }

    expect(runs.map((r) => r.status)).toEqual(Array(9).fill('succeeded'));
    for (const receiver of receivers) expect(receivedNames(receiver)).toEqual(expectedNames(rows, 3));
    // Every run was shared out: more than one process did work.
    expect(new Set(runs.map((r) => r.workerId?.split('-')[1])).size).toBeGreaterThan(1);

    // At the destination: within one run, deliveries move from one process to another only when the
    // first was killed, and never come back to it.
    for (const [s, receiver] of receivers.entries()) {
      for (let version = 1; version <= 3; version++) {
        const moves = handOvers(deliveriesOf(receiver, version));
        for (const move of moves)
          expect({ sync: s, version, from: move.from }).toEqual({ sync: s, version, from: killed });
        expect(moves.length).toBeLessThanOrEqual(1);
      }
    }
    const killedRun = runs[3];
    expect(killedRun?.attempt).toBeGreaterThanOrEqual(2);
    expect(killedRun?.workerId).not.toContain(`-${killed}-`);

    // In the state store: one sync's runs never overlap in time.
    for (const syncId of syncIds) {
      const mine = runs.filter((r) => r.syncId === syncId);
      for (let i = 1; i < mine.length; i++) {
        const [prev, next] = [mine[i - 1], mine[i]];
        expect(prev?.finishedAt?.getTime()).toBeLessThanOrEqual(next?.startedAt?.getTime() ?? 0);
      }
    }
  });
});

describe.runIf(Boolean(base))('rate limits across worker processes', () => {
  it('keeps HubSpot within its limit per window with three processes sharing the credential through Redis', async () => {
    const { store, stateUrl, warehouse, logDir } = await setup();
    const limit = { max: 6, intervalMs: 1000 };
    const emulator = await startHubspotEmulator({
      seed: 3,
      rateLimit: limit,
      latencyMs: { min: 5, max: 30 },
    });
    cleanups.push(() => emulator.close());
    const rows = 2400;
    await createContactsTable(warehouse.url, 'contacts', rows);
    // One credential (token and base path), three syncs: a third of the contacts each.
    const syncIds: string[] = [];
    for (let s = 0; s < 3; s++) {
      syncIds.push(
        await insertSync(store, {
          warehouseUrl: warehouse.url,
          sql: `select id, email, first_name from contacts where id % 3 = ${s}`,
          destinationKind: 'hubspot',
          destination: {
            accessToken: emulator.options.accessToken,
            basePath: emulator.url,
            requestTimeoutMs: 5000,
            limits: { requestsPerInterval: limit.max, intervalMs: limit.intervalMs, maxConcurrent: 2 },
          },
          secretFields: ['accessToken'],
          object: 'contacts',
          mode: 'upsert',
          identifier: { from: 'email', to: 'email' },
          mappings: [
            { from: 'email', to: 'email' },
            { from: 'first_name', to: 'firstname' },
          ],
        }),
      );
    }
    await startWorkers(3, stateUrl, logDir, { redisUrl: 'redis://127.0.0.1:6379', concurrency: 1 });
    const runIds = await Promise.all(syncIds.map((id) => enqueue(store, id)));
    const runs: RunRow[] = [];
    for (const id of runIds) runs.push(await waitForRun(store, id, 50_000));

    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // The three runs were delivered by three different processes at the same time.
    expect(new Set(runs.map((r) => r.workerId)).size).toBe(3);
    expect(emulator.recordsBy('contacts', 'email').size).toBe(rows);
    expect(emulator.stats.batchCalls['contacts/upsert']).toBeGreaterThanOrEqual(24);
    // No rolling window ever held more requests than the limit, so HubSpot never refused one.
    expect(emulator.stats.maxInWindow).toBeLessThanOrEqual(limit.max);
    expect(emulator.stats.rateLimited).toBe(0);
  });
});
