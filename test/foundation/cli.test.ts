import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openPgliteStore } from '../../src/db/pglite.ts';
import { createTestStore } from '../helpers/store.ts';

const main = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function tempDir() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ebb-cli-'));
  dirs.push(dir);
  return dir;
}

function ebb(args: string[], env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [main, ...args], {
    env: { ...inherited, LOG_FORMAT: 'json', EBB_SCHEDULER: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

async function waitForHealth(port: number, deadlineMs = 30_000) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      if (response.status === 200) return (await response.json()) as { store: { kind: string } };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`GET /health did not answer 200 within ${deadlineMs} ms`);
}

describe('ebb start', () => {
  it('answers /health on embedded defaults, stops cleanly on SIGTERM, and keeps data across restarts', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const first = ebb(['start'], { EBB_DATA_DIR: dataDir, PORT: String(port) });
    const health = await waitForHealth(port);
    expect(health.store.kind).toBe('pglite');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(((await stat(path.join(dataDir, 'secret.key'))).mode & 0o777).toString(8)).toBe('600');

    const store = await openPgliteStore({ dataDir: path.join(dataDir, 'pgdata') });
    await store.execute(
      `insert into api_keys (id, name, role, prefix, secret_hash) values ('key_kept', 'kept', 'viewer', 'p', 'h')`,
    );
    await store.close();

    const second = ebb(['start'], { EBB_DATA_DIR: dataDir, PORT: String(port) });
    await waitForHealth(port);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.output().stdout).not.toContain('applied database migrations');

    const reopened = await openPgliteStore({ dataDir: path.join(dataDir, 'pgdata') });
    expect(await reopened.query('select name from api_keys where id = $1', ['key_kept'])).toEqual([
      { name: 'kept' },
    ]);
    await reopened.close();
  });

  it('runs on a real Postgres when DATABASE_URL is set', async (context) => {
    const store = await createTestStore();
    try {
      if (!store.url) context.skip();
      const port = await freePort();
      const run = ebb(['start'], {
        EBB_DATA_DIR: await tempDir(),
        PORT: String(port),
        DATABASE_URL: store.url ?? '',
      });
      expect((await waitForHealth(port)).store.kind).toBe('postgres');
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      await store.close();
    }
  });

  it.each([
    [
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' },
      /^ebb: DATABASE_URL: cannot connect: .*ECONNREFUSED/,
    ],
    [{ DATABASE_URL: 'mysql://x' }, /^ebb: DATABASE_URL: must be a URL such as postgres:\/\//],
    [{ PORT: 'eighty' }, /^ebb: PORT: must be a port number/],
    [{ PORT: '99999' }, /^ebb: PORT: must be from 1 to 65535/],
  ])('fails fast on %o with one line and no stack trace', async (env, expected) => {
    const run = ebb(['start'], { EBB_DATA_DIR: await tempDir(), ...env });
    expect(await run.exited).toBe(1);
    const { stderr } = run.output();
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(expected);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('names PORT when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = address && typeof address !== 'string' ? address.port : 0;
    try {
      const run = ebb(['start'], { EBB_DATA_DIR: await tempDir(), PORT: String(port) });
      expect(await run.exited).toBe(1);
      expect(run.output().stderr.trim()).toBe(`ebb: PORT: ${port} is already in use on 127.0.0.1`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('exits 2 with usage for an unknown command', async () => {
    const run = ebb(['frobnicate'], {});
    expect(await run.exited).toBe(2);
    expect(run.output().stderr).toContain('unknown command "frobnicate"');
  });
});
