/**
 * `npm run bench:deliver`: delivery through the real engine against local destinations, each measured
 * against its own ceiling in the same run.
 * - HubSpot: 50,000 changed rows (upsert by email) through the real connector and SDK to the emulator,
 *   which enforces 190 requests per rolling 10 s like a Professional account. The ceiling is the limit
 *   itself (19 requests/s); utilization is the request rate the engine sustained while delivering.
 * - Webhook: 50,000 rows, one record per request, to a receiver with no limits. The floor is a bare
 *   HTTP client loop posting the same bodies to the same receiver at the same concurrency.
 * The state store is the Postgres in DATABASE_URL (a scratch database, dropped afterwards), else an
 * in-memory PGlite.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { defineConnector } from '../../connectors/index.ts';
import { buildRecordEvent, webhookConnector } from '../../connectors/webhook/index.ts';
import { loadConfig } from '../../src/config.ts';
import { openPgliteStore } from '../../src/db/pglite.ts';
import { openPostgresStore } from '../../src/db/postgres.ts';
import type { Store } from '../../src/db/store.ts';
import {
  contactsSql,
  createEngineDeps,
  createHubspotSync,
  insertSync,
  runSync,
} from '../connectors/hubspot/engine-harness.ts';
import { startHubspotEmulator } from '../emulators/hubspot/server.ts';
import { startWebhookReceiver, webhookEventHandler } from '../emulators/webhook/server.ts';
import { adminQuery, urlForDatabase } from '../helpers/templates.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '50000' }, only: { type: 'string' } },
});
const rows = Number(values.rows);
if (!Number.isInteger(rows) || rows < 100) throw new Error(`--rows must be a whole number of at least 100`);
const hubspotLimit = { max: 190, intervalMs: 10_000 };
const webhookConcurrency = 8;
const log = (line: string) => process.stderr.write(`${line}\n`);

async function openBenchStore(): Promise<{ store: Store; drop: () => Promise<void> }> {
  const { databaseUrl } = loadConfig();
  if (!databaseUrl) {
    const store = await openPgliteStore();
    await store.migrate();
    return { store, drop: () => store.close() };
  }
  const name = `ebb_bench_deliver_${randomBytes(4).toString('hex')}`;
  await adminQuery(databaseUrl, `CREATE DATABASE ${name}`);
  const store = await openPostgresStore({ url: urlForDatabase(databaseUrl, name), max: 12 });
  await store.migrate();
  return {
    store,
    async drop() {
      await store.close();
      await adminQuery(databaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function benchHubspot(store: Store) {
  const emulator = await startHubspotEmulator({
    seed: 1,
    rateLimit: hubspotLimit,
    latencyMs: { min: 20, max: 60 },
  });
  const sync = await createHubspotSync(store, emulator, {
    sql: contactsSql({ n: rows, version: 1, bad: false, drop: false }),
    mode: 'upsert',
  });
  try {
    const started = performance.now();
    const { end, counts } = await sync.run();
    const totalS = (performance.now() - started) / 1000;
    const { stats } = emulator;
    const spanS = ((stats.lastResponseAt ?? 0) - (stats.firstRequestAt ?? 0)) / 1000;
    const limited = stats.byStatus[429] ?? 0;
    const served = stats.requests - limited;
    const contacts = emulator.crm.list('contacts').length;
    log(
      `hubspot: run ${end.status}, accepted ${counts?.accepted}, contacts ${contacts}, ${stats.requests} requests ` +
        `(${limited} answered 429) over ${spanS.toFixed(1)} s of delivery, ${totalS.toFixed(1)} s in all; ` +
        `max ${stats.maxInWindow} requests in one rolling ${hubspotLimit.intervalMs / 1000} s window`,
    );
    if (contacts !== rows) throw new Error(`HubSpot holds ${contacts} contacts, expected ${rows}`);
    const rps = served / spanS;
    return { rps, limitRps: hubspotLimit.max / (hubspotLimit.intervalMs / 1000), limited };
  } finally {
    await sync.close();
    await emulator.close();
  }
}

/** The bare floor: the same event bodies, posted by `concurrency` loops over keep-alive sockets. */
async function floorRowsPerSecond(url: string): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: webhookConcurrency });
  const template = webhookConnector.configSchema.parse({ url, batchSize: 1 }).template;
  const bodies = Array.from({ length: rows }, (_, index) => {
    const i = index + 1;
    const event = buildRecordEvent(
      {
        key: String(i),
        operation: 'upsert',
        idempotencyKey: `floor-${i}`,
        identifier: null,
        destinationRecordId: null,
        fields: {
          email: `user${i}@example.com`,
          firstname: i % 10 === 0 ? `V1-${i}` : `F${i}`,
          lastname: `L${i}`,
        },
      },
      'contacts',
      template,
    );
    if (!event.ok) throw new Error(event.reason);
    return Buffer.from(JSON.stringify(event.payload));
  });
  const post = (body: Buffer, id: string) =>
    new Promise<void>((resolve, reject) => {
      const request = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            'webhook-id': id,
            'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode && response.statusCode < 300
              ? resolve()
              : reject(new Error(`status ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: webhookConcurrency }, async () => {
      for (let i = next++; i < rows; i = next++) await post(bodies[i] as Buffer, `floor_${i}`);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return rows / seconds;
}

async function benchWebhook(store: Store) {
  let first = 0;
  let last = 0;
  const receiver = await startWebhookReceiver({
    handler: {
      keysOf: (json) => webhookEventHandler.keysOf(json),
      apply(json, state, headers) {
        const now = performance.now();
        if (first === 0) first = now;
        last = now;
        return webhookEventHandler.apply(json, state, headers);
      },
    },
  });
  const deps = createEngineDeps(store, { webhook: defineConnector(webhookConnector) });
  try {
    const { syncId } = await insertSync(deps, {
      sql: contactsSql({ n: rows, version: 1, bad: false, drop: false }),
      mode: 'upsert',
      kind: 'webhook',
      // One record per request, and limits out of the way: the receiver has none. The engine sends at
      // most `maxConcurrent` requests at once, the floor's concurrency.
      config: {
        url: receiver.url,
        batchSize: 1,
        limits: { requestsPerInterval: 100_000, intervalMs: 1000, maxConcurrent: webhookConcurrency },
      },
      identifier: null,
    });
    const run = await runSync(deps, syncId);
    const engineS = (last - first) / 1000;
    const received = receiver.state.size;
    const engineRowsS = received / engineS;
    log(
      `webhook: run ${run.end.status}, ${received} of ${rows} records received in ${engineS.toFixed(1)} s ` +
        `(${receiver.stats.requests} requests)`,
    );
    if (received !== rows) {
      throw new Error(`receiver holds ${received} records, expected ${rows}`);
    }
    const floor = await floorRowsPerSecond(receiver.url);
    log(`webhook floor: bare HTTP loop at concurrency ${webhookConcurrency}: ${floor.toFixed(0)} rows/s`);
    return { rowsS: engineRowsS, floor };
  } finally {
    await deps.limiters.close();
    await receiver.close();
  }
}

const { store, drop } = await openBenchStore();
try {
  const hubspot =
    values.only === 'webhook' ? { rps: 0, limitRps: 19, limited: 0 } : await benchHubspot(store);
  const webhook = values.only === 'hubspot' ? { rowsS: 0, floor: 1 } : await benchWebhook(store);
  console.log(
    `bench:deliver hubspot_rps=${hubspot.rps.toFixed(2)} hubspot_limit_rps=${hubspot.limitRps} ` +
      `hubspot_utilization=${(hubspot.rps / hubspot.limitRps).toFixed(3)} hubspot_429=${hubspot.limited} ` +
      `webhook_rows_s=${webhook.rowsS.toFixed(0)} webhook_floor_rows_s=${webhook.floor.toFixed(0)} ` +
      `webhook_ratio=${(webhook.rowsS / webhook.floor).toFixed(3)}`,
  );
} finally {
  await drop();
}
