import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliIo, runSyncFromCli } from '../../src/cli/run-command.ts';
import { loadConfig } from '../../src/config.ts';
import type { EngineDeps } from '../../src/sync/context.ts';
import { createEngineDeps } from '../../src/worker/engine-deps.ts';
import {
  createTestApi,
  destinationRecords,
  seedConfig,
  syncBody,
  type TestApi,
  tables,
} from '../api/fixtures.ts';

let api: TestApi | undefined;
let engine: EngineDeps | undefined;
afterEach(async () => {
  await engine?.limiters.close();
  await api?.store.close();
  api = undefined;
  engine = undefined;
});

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  const stderr = new PassThrough();
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const io: CliIo = { stdout: { write: (text: string) => out.push(text) }, stderr };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

async function setUp() {
  const t = await createTestApi();
  api = t;
  const ids = await seedConfig(t);
  const sync = await t.call('POST', '/v1/syncs', syncBody(ids));
  const destination = await t.store.query<{ config: { account: string } }>('select config from destinations');
  const config = { ...loadConfig({}), allowPrivateNetwork: true };
  const deps = createEngineDeps(
    { config, logger: t.deps.logger, store: t.store, secrets: t.deps.secrets },
    { connectors: { ...t.deps.connectors }, warehouses: { ...t.deps.warehouses } },
  );
  engine = deps;
  return {
    t,
    engine: deps,
    syncId: (sync.body as { id: string }).id,
    account: destination[0]?.config.account ?? '',
  };
}

describe('ebb run', () => {
  it('runs a sync by name in this process and prints counts by outcome', async () => {
    const { t, engine, syncId, account } = await setUp();
    const first = captureIo();
    const result = await runSyncFromCli(engine, 'customers to crm', {}, first.io);
    expect(result.exitCode).toBe(0);
    expect(first.out()).toMatch(/rows read\s+150/);
    expect(first.out()).toMatch(/accepted\s+150/);
    expect(first.out()).toMatch(/rejected\s+0/);
    expect(first.err()).toContain(`Run ${result.runId} succeeded`);
    expect(destinationRecords.get(account)?.size).toBe(150);
    expect(destinationRecords.get(account)?.get('c7@example.com')).toEqual({ firstname: 'Customer 7' });

    const run = await t.call('GET', `/v1/runs/${result.runId}`);
    expect(run.body).toMatchObject({ status: 'succeeded', trigger: 'cli', outcomes: { accepted: 150 } });

    // Nothing changed: the second run, by id, sends nothing.
    const second = captureIo();
    expect((await runSyncFromCli(engine, syncId, {}, second.io)).exitCode).toBe(0);
    expect(second.out()).toMatch(/accepted\s+0/);
  });

  it('exits 1 with a one-line reason when records are rejected', async () => {
    const { engine } = await setUp();
    const original = tables.customers?.rows[2];
    const rows = tables.customers?.rows ?? [];
    rows[2] = { ...rows[2], email: 'reject@example.com' };
    try {
      const cli = captureIo();
      const result = await runSyncFromCli(engine, 'customers to crm', {}, cli.io);
      expect(result.exitCode).toBe(1);
      expect(cli.out()).toMatch(/accepted\s+149/);
      expect(cli.out()).toMatch(/rejected\s+1/);
      const last = cli.err().trim().split('\n').at(-1) ?? '';
      expect(last).toMatch(new RegExp(`^ebb: run ${result.runId} partial: `));
    } finally {
      if (original) rows[2] = original;
    }
  });

  it('explains an unknown sync or a busy run in one line, and resumes an abandoned one', async () => {
    const { t, engine, syncId } = await setUp();
    const missing = captureIo();
    expect(await runSyncFromCli(engine, 'no such sync', {}, missing.io)).toEqual({ exitCode: 1 });
    expect(missing.err()).toBe('ebb: no sync has the id or name "no such sync"\n');

    // A queued run with other options is someone else's request: refused, naming it.
    const queued = await t.call('POST', `/v1/syncs/${syncId}/runs`, { dryRun: true });
    const activeId = (queued.body as { id: string }).id;
    const busy = captureIo();
    expect(await runSyncFromCli(engine, syncId, {}, busy.io)).toEqual({ exitCode: 1, runId: activeId });
    expect(busy.err()).toBe(`ebb: sync "customers to crm" already has an active run (${activeId})\n`);

    // A run another process is executing (live lease) is refused too.
    await t.store.execute(
      `update sync_runs set status = 'running', dry_run = false, lease_expires_at = now() + interval '1 hour' where id = $1`,
      [activeId],
    );
    expect((await runSyncFromCli(engine, syncId, {}, captureIo().io)).exitCode).toBe(1);

    // Its process died (lease expired): repeating `ebb run` resumes that run here.
    await t.store.execute(
      `update sync_runs set lease_expires_at = now() - interval '1 second' where id = $1`,
      [activeId],
    );
    const resumed = captureIo();
    expect(await runSyncFromCli(engine, syncId, {}, resumed.io)).toEqual({ exitCode: 0, runId: activeId });
    expect(resumed.err()).toContain(`Resuming run ${activeId} of sync "customers to crm"`);
    expect(resumed.out()).toMatch(/accepted\s+150/);
  });
});
