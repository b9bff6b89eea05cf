import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { maxUnrecordedBatches } from '../../src/sync/deliver/index.ts';
import { startHubspotEmulator } from '../emulators/hubspot/server.ts';
import { seededRandom } from '../emulators/webhook/faults.ts';
import { startWebhookReceiver } from '../emulators/webhook/server.ts';
import {
  compareMaps,
  createContactsTable,
  createScratchDatabase,
  createStateStore,
  enqueue,
  insertSync,
  readRun,
  spawnWorker,
  waitForClaim,
  waitForPhase,
  waitForRun,
} from './harness.ts';
import type { ScenarioContext, ScenarioResult } from './scenario.ts';

/**
 * A 100,000-row model synced in upsert mode by a worker process that is killed with SIGKILL at random
 * moments, ten times, and restarted each time (with a one-second lease, so the next worker takes the
 * run over quickly). When the run finally succeeds the destination must equal the model exactly.
 */

const rows = 100_000;
const kills = 10;
const maxConcurrent = 4;
const batchSize = 100;
const signingSecret = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;

type Destination = {
  kind: 'webhook' | 'hubspot';
  config: Record<string, unknown>;
  secretFields: string[];
  object: string;
  identifier: { from: string; to: string } | null;
  mappings: { from: string; to: string }[];
  /** The destination's contents as pk-or-email → first name. */
  contents(): Map<string, string>;
  expected(): Map<string, string>;
  duplicates(): { duplicates: number; detail: string };
  close(): Promise<void>;
};

async function webhookDestination(): Promise<Destination> {
  const receiver = await startWebhookReceiver({ secrets: [signingSecret], faults: { latencyMs: 15 } });
  return {
    kind: 'webhook',
    config: {
      url: `${receiver.url}/hooks`,
      signingSecret,
      batchSize,
      timeoutMs: 5000,
      limits: { requestsPerInterval: 100_000, intervalMs: 1000, maxConcurrent },
    },
    secretFields: ['secretHeaders', 'signingSecret'],
    object: 'contacts',
    identifier: null,
    mappings: [
      { from: 'email', to: 'email' },
      { from: 'first_name', to: 'first_name' },
    ],
    contents() {
      const out = new Map<string, string>();
      for (const [key, data] of receiver.state) {
        const fields = data as Record<string, unknown> | null;
        out.set(key, String(fields?.first_name ?? ''));
      }
      return out;
    },
    expected() {
      const out = new Map<string, string>();
      for (let i = 1; i <= rows; i++) out.set(String(i), `V1-${i}`);
      return out;
    },
    duplicates() {
      // Records applied more than once under different webhook ids would escape a consumer's dedupe.
      const applied = new Map<string, number>();
      const seenIds = new Set<string>();
      for (const request of receiver.requests) {
        if (request.status === null || request.status >= 300 || !request.webhookId) continue;
        if (seenIds.has(request.webhookId)) continue;
        seenIds.add(request.webhookId);
        const body = request.json as { records?: { key?: string }[] } | undefined;
        for (const record of body?.records ?? []) {
          const key = String(record.key);
          applied.set(key, (applied.get(key) ?? 0) + 1);
        }
      }
      let records = 0;
      for (const count of applied.values()) records += count - 1;
      return {
        duplicates: receiver.stats.duplicates,
        detail: `duplicate_records_new_id=${records}`,
      };
    },
    close: () => receiver.close(),
  };
}

async function hubspotDestination(): Promise<Destination> {
  const emulator = await startHubspotEmulator({ seed: 11, latencyMs: { min: 5, max: 25 } });
  return {
    kind: 'hubspot',
    config: {
      accessToken: emulator.options.accessToken,
      basePath: emulator.url,
      tier: 'professional',
      requestTimeoutMs: 5000,
      limits: { requestsPerInterval: 100_000, intervalMs: 1000, maxConcurrent },
    },
    secretFields: ['accessToken'],
    object: 'contacts',
    identifier: { from: 'email', to: 'email' },
    mappings: [
      { from: 'email', to: 'email' },
      { from: 'first_name', to: 'firstname' },
      { from: 'last_name', to: 'lastname' },
    ],
    contents() {
      const out = new Map<string, string>();
      for (const [email, properties] of emulator.recordsBy('contacts', 'email')) {
        out.set(email, properties.firstname ?? '');
      }
      return out;
    },
    expected() {
      const out = new Map<string, string>();
      for (let i = 1; i <= rows; i++) out.set(`user${i}@example.com`, `V1-${i}`);
      return out;
    },
    duplicates() {
      // Upsert by email: every contact record beyond one per email would be a duplicate create.
      const records = emulator.crm.list('contacts').length;
      const emails = emulator.recordsBy('contacts', 'email').size;
      return { duplicates: records - emails, detail: `contacts=${records}` };
    },
    close: () => emulator.close(),
  };
}

export async function kill9Scenario(
  ctx: ScenarioContext,
  kind: 'webhook' | 'hubspot',
): Promise<ScenarioResult> {
  const random = seededRandom(ctx.seed);
  const warehouse = await createScratchDatabase(ctx.baseUrl, 'ebb_wh');
  const { db, store } = await createStateStore(ctx.baseUrl);
  const destination = kind === 'webhook' ? await webhookDestination() : await hubspotDestination();
  const logFile = path.join(ctx.logDir, `kill9-${kind}.log`);
  try {
    await createContactsTable(warehouse.url, 'contacts', rows);
    const syncId = await insertSync(store, {
      warehouseUrl: warehouse.url,
      sql: 'select id, email, first_name, last_name from contacts',
      destinationKind: destination.kind,
      destination: destination.config,
      secretFields: destination.secretFields,
      object: destination.object,
      mode: 'upsert',
      identifier: destination.identifier,
      mappings: destination.mappings,
    });
    const runId = await enqueue(store, syncId);
    let killedWhileRunning = 0;
    let next = spawnWorker({ databaseUrl: db.url, leaseSeconds: 1, logFile });
    for (let k = 0; k < kills; k++) {
      const worker = next;
      const claimed = await waitForClaim(store, runId, worker.child.pid, 90_000);
      // The replacement boots while this worker runs (start-up takes seconds on a busy machine) and
      // waits out the lease: it may claim the run only once this worker is dead and the lease expired.
      next = spawnWorker({ databaseUrl: db.url, leaseSeconds: 1, logFile });
      if (claimed.status !== 'running') break;
      // A random moment, mostly in delivery (batches in flight), sometimes in planning. Within 700 ms, so
      // that ten kills land before the run can finish (a whole attempt delivers 100,000 rows in seconds).
      if (random() < 0.8) await waitForPhase(store, runId, 'delivering', 60_000);
      await sleep(Math.floor(random() * 700));
      const before = await readRun(store, runId);
      await worker.kill9();
      if (before.status !== 'running') break;
      killedWhileRunning += 1;
    }
    const final = next;
    const run = await waitForRun(store, runId, 180_000);
    await final.stop();
    const diff = compareMaps(destination.expected(), destination.contents(), (a, b) => a === b);
    const [snapshot] = await store.query<{ n: string }>(
      'select count(*) as n from sync_snapshots where sync_id = $1',
      [syncId],
    );
    const dup = destination.duplicates();
    // Webhooks: a re-sent request is one that was in flight, or answered but not yet group-committed,
    // when its worker died: at most the engine's unrecorded window per kill. HubSpot: none at all.
    const allowed =
      kind === 'webhook' ? killedWhileRunning * maxUnrecordedBatches(maxConcurrent, batchSize) : 0;
    const ok =
      run.status === 'succeeded' &&
      diff.missing === 0 &&
      diff.extra === 0 &&
      diff.wrong === 0 &&
      Number(snapshot?.n) === rows &&
      dup.duplicates <= allowed &&
      (kind === 'hubspot' || dup.detail === 'duplicate_records_new_id=0');
    return {
      ok,
      fields: {
        runs: run.attempt,
        kills: killedWhileRunning,
        lost: diff.missing,
        duplicates: dup.duplicates,
        extra: diff.extra,
        wrong: diff.wrong,
        status: run.status,
        timings: JSON.stringify(run.timings).replace(/["{}]/g, ''),
        snapshot: Number(snapshot?.n),
        detail: dup.detail,
      },
    };
  } finally {
    await destination.close();
    await store.close();
    await db.drop();
    await warehouse.drop();
  }
}
