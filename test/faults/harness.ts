import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openPostgresStore } from '../../src/db/postgres.ts';
import type { Store } from '../../src/db/store.ts';
import { newId } from '../../src/lib/ids.ts';
import { createSecretBox } from '../../src/secrets/box.ts';
import { splitSecrets } from '../../src/secrets/split.ts';

/**
 * Real processes against real Postgres: scratch databases, syncs written straight into the state store
 * (as the API would), and worker processes started with the same environment an operator would give.
 * Shared by the fault suite, the load script and the multi-process tests.
 */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Every process of one scenario shares this key, as every machine of a deployment must. */
export const secretKeyBase64 = Buffer.alloc(32, 7).toString('base64');
const secrets = createSecretBox(Buffer.from(secretKeyBase64, 'base64'));

export function withDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminSql(base: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: withDatabase(base, 'postgres') });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(base: string, prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await adminSql(base, `create database ${name}`);
  return {
    name,
    url: withDatabase(base, name),
    drop: async () => {
      await adminSql(base, `drop database if exists ${name} with (force)`);
    },
  };
}

/** A migrated state store in its own database (the one the worker processes are given). */
export async function createStateStore(base: string): Promise<{ db: ScratchDatabase; store: Store }> {
  const db = await createScratchDatabase(base, 'ebb_state');
  const store = await openPostgresStore({ url: db.url, max: 4, applicationName: 'ebb-faults' });
  await store.migrate();
  return { db, store };
}

/** The model: `n` contacts in a warehouse table, `version` marks first names so a change is visible. */
export async function createContactsTable(
  warehouseUrl: string,
  table: string,
  n: number,
  version = 1,
): Promise<void> {
  const client = new pg.Client({ connectionString: warehouseUrl });
  await client.connect();
  try {
    await client.query(`drop table if exists ${table}`);
    await client.query(
      `create table ${table} as
       select i as id, 'user' || i || '@example.com' as email, 'V${version}-' || i as first_name,
         'L' || i as last_name
       from generate_series(1, ${n}) i`,
    );
    await client.query(`alter table ${table} add primary key (id)`);
  } finally {
    await client.end();
  }
}

export interface SyncSpec {
  warehouseUrl: string;
  sql: string;
  destinationKind: 'webhook' | 'hubspot' | 'http';
  destination: Record<string, unknown>;
  /** The destination's secret fields, encrypted at rest like the API does. */
  secretFields: readonly string[];
  object: string;
  mode: 'upsert' | 'mirror' | 'insert' | 'update';
  identifier?: { from: string; to: string } | null;
  mappings: { from: string; to: string }[];
}

export async function insertSync(store: Store, spec: SyncSpec): Promise<string> {
  const [sourceId, modelId, destinationId, syncId] = [
    newId('source'),
    newId('model'),
    newId('destination'),
    newId('sync'),
  ];
  const source = splitSecrets({ url: spec.warehouseUrl }, ['url'], secrets);
  await store.execute(
    `insert into sources (id, name, kind, config, secrets) values ($1, $1, 'postgres', $2::jsonb, $3)`,
    [sourceId, JSON.stringify(source.config), source.secrets],
  );
  await store.execute(
    `insert into models (id, name, source_id, sql, primary_key) values ($1, $1, $2, $3, 'id')`,
    [modelId, sourceId, spec.sql],
  );
  const sealed = splitSecrets(spec.destination, spec.secretFields, secrets);
  await store.execute(
    `insert into destinations (id, name, kind, config, secrets) values ($1, $1, $2, $3::jsonb, $4)`,
    [destinationId, spec.destinationKind, JSON.stringify(sealed.config), sealed.secrets],
  );
  await store.execute(
    `insert into syncs (id, name, model_id, destination_id, object, mode, identifier, mappings, schedule)
     values ($1, $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, '{"type":"manual"}')`,
    [
      syncId,
      modelId,
      destinationId,
      spec.object,
      spec.mode,
      spec.identifier ? JSON.stringify(spec.identifier) : null,
      JSON.stringify(spec.mappings),
    ],
  );
  return syncId;
}

export interface RunRow {
  id: string;
  syncId: string;
  status: string;
  phase: string;
  attempt: number;
  workerId: string | null;
  counts: { rows: number; accepted: number; rejected: number; pending: number; invalid: number } | null;
  errorCode: string | null;
  errorMessage: string | null;
  timings: Record<string, number> | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export async function readRun(store: Store, runId: string): Promise<RunRow> {
  const [row] = await store.query<RunRow>(
    `select id, sync_id as "syncId", status, phase, attempt, worker_id as "workerId", counts,
       error_code as "errorCode", error_message as "errorMessage", timings, started_at as "startedAt",
       finished_at as "finishedAt"
     from sync_runs where id = $1`,
    [runId],
  );
  if (!row) throw new Error(`run ${runId} does not exist`);
  return row;
}

export const finishedStatuses = ['succeeded', 'partial', 'failed', 'cancelled'];

/** Polls until the run has finished (no sleeping on a guess: a deadline bounds the wait). */
export async function waitForRun(store: Store, runId: string, deadlineMs: number): Promise<RunRow> {
  const until = Date.now() + deadlineMs;
  let last = 'unread';
  for (;;) {
    // The state store may be restarting under a fault scenario: keep polling until the deadline.
    const run = await readRun(store, runId).catch(() => undefined);
    if (run && finishedStatuses.includes(run.status)) return run;
    if (run) last = run.status;
    if (Date.now() > until) throw new Error(`run ${runId} still ${last} after ${deadlineMs} ms`);
    await sleep(100);
  }
}

/** Waits until the worker process `pid` holds the run (worker ids carry the pid), or it has finished. */
export async function waitForClaim(
  store: Store,
  runId: string,
  pid: number | undefined,
  deadlineMs: number,
): Promise<RunRow> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const run = await readRun(store, runId);
    if (finishedStatuses.includes(run.status)) return run;
    if (run.status === 'running' && run.workerId?.includes(`-${pid}-`)) return run;
    if (Date.now() > until) throw new Error(`worker ${pid} did not claim run ${runId} in ${deadlineMs} ms`);
    await sleep(20);
  }
}

/** Waits until the run reaches `phase` (or has finished); false when the deadline passed first. */
export async function waitForPhase(
  store: Store,
  runId: string,
  phase: string,
  deadlineMs: number,
): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const run = await readRun(store, runId);
    if (run.phase === phase || finishedStatuses.includes(run.status)) return true;
    await sleep(20);
  }
  return false;
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  deadlineMs: number,
  what: string,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  /** SIGTERM: the worker drains and hands its runs back. */
  stop(): Promise<void>;
}

/**
 * A worker process: `ebb worker` by default, or another entry (e.g. one with instrumented connectors).
 * Its output goes to `logFile` (appended) so a failed scenario can be read afterwards.
 */
export function spawnWorker(options: {
  databaseUrl: string;
  leaseSeconds: number;
  logFile: string;
  redisUrl?: string;
  entry?: string[];
  env?: Record<string, string>;
}): WorkerProcess {
  const entry = options.entry ?? [path.join(repoRoot, 'src/cli/main.ts'), 'worker'];
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: options.databaseUrl,
    EBB_SECRET_KEY: secretKeyBase64,
    EBB_LEASE_SECONDS: String(options.leaseSeconds),
    EBB_POLL_INTERVAL_MS: '100',
    EBB_ALLOW_PRIVATE_NETWORK: 'true',
    EBB_SCHEDULER: 'false',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    REDIS_URL: options.redisUrl ?? '',
    ...options.env,
  };
  const child = spawn(
    process.execPath,
    ['--no-warnings', '--max-semi-space-size=16', '--heap-growing-percent=50', ...entry],
    {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log = createWriteStream(options.logFile, { flags: 'a' });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
  });
  exited.then(
    () => log.end(),
    () => log.end(),
  );
  return {
    child,
    exited,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function enqueue(store: Store, syncId: string, trigger = 'cli'): Promise<string> {
  const id = newId('run');
  await store.execute(`insert into sync_runs (id, sync_id, trigger) values ($1, $2, $3)`, [
    id,
    syncId,
    trigger,
  ]);
  return id;
}

/** Differences between what the destination holds and the model, for a one-line verdict. */
export function compareMaps<V>(
  expected: Map<string, V>,
  actual: Map<string, V>,
  equal: (a: V, b: V) => boolean,
): { missing: number; extra: number; wrong: number } {
  let missing = 0;
  let wrong = 0;
  for (const [key, value] of expected) {
    const got = actual.get(key);
    if (got === undefined) missing += 1;
    else if (!equal(value, got)) wrong += 1;
  }
  let extra = 0;
  for (const key of actual.keys()) if (!expected.has(key)) extra += 1;
  return { missing, extra, wrong };
}
