import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createScratchDatabase, repoRoot, type ScratchDatabase } from '../faults/harness.ts';

/**
 * A worker must outlive a dropped state-store connection: the fault suite terminates a worker's
 * backends and restarts Postgres under it. A connection lost while a client is checked out of the pool
 * (inside `store.transaction`) must fail that transaction, not the process. Run in a child process,
 * since the failure mode is the whole process dying on an unhandled 'error' event.
 */

const base = process.env.DATABASE_URL;
const run = promisify(execFile);
let scratch: ScratchDatabase | undefined;
afterEach(async () => {
  await scratch?.drop();
  scratch = undefined;
});

const script = `
import { openPostgresStore } from './src/db/postgres.ts';
const store = await openPostgresStore({ url: process.env.STORE_URL });
const outcome = await store
  .transaction((tx) => tx.query('select pg_terminate_backend(pg_backend_pid())'))
  .then(() => 'committed', (error) => 'rejected: ' + error.message);
console.log(outcome);
await new Promise((resolve) => setTimeout(resolve, 300));
const [row] = await store.query('select 1 as one');
console.log('recovered ' + row.one);
await store.close();
`;

describe.runIf(Boolean(base))('state store connection loss', () => {
  it('fails the transaction and keeps the process alive when the backend is terminated', async () => {
    scratch = await createScratchDatabase(base ?? '', 'ebb_loss');
    const result = await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
      cwd: path.resolve(repoRoot),
      env: { ...process.env, STORE_URL: scratch.url },
    }).then(
      (out) => ({ code: 0, stdout: out.stdout, stderr: out.stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code ?? -1,
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? '',
      }),
    );
    expect(result.stderr).not.toContain("Unhandled 'error' event");
    expect(result.stdout).toContain('rejected: terminating connection due to administrator command');
    expect(result.stdout).toContain('recovered 1');
    expect(result.code).toBe(0);
  });
});
