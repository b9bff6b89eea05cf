import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configVariables } from '../../src/config.ts';

// No Docker engine runs where the tests run, so the compose file is checked against the project: every
// service, command, file and variable it names must exist.
const root = path.resolve(import.meta.dirname, '../..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      command?: string[];
      environment?: Record<string, string>;
      ports?: string[];
      container_name?: string;
      depends_on?: Record<string, { condition: string }>;
      build?: { context: string; dockerfile_inline: string };
    }
  >;
};
const cliHelp = execFileSync(process.execPath, [path.join(root, 'src/cli/main.ts'), 'help'], {
  encoding: 'utf8',
});
const cliCommands = [...cliHelp.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]);

describe('docker-compose.yml', () => {
  it('has Postgres, the API and a scalable worker', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'api', 'worker']));
    const worker = compose.services.worker;
    expect(worker?.ports).toBeUndefined();
    expect(worker?.container_name).toBeUndefined();
    expect(worker?.depends_on?.postgres?.condition).toBe('service_healthy');
  });

  it('runs commands the CLI has, from files that exist, with the heap flags of every entry point', () => {
    const shebang = readFileSync(path.join(root, 'src/cli/main.ts'), 'utf8').split('\n')[0] ?? '';
    const heapFlags = shebang
      .split(' ')
      .filter((arg) => /^--(max-semi-space-size|heap-growing-percent)=/.test(arg));
    expect(heapFlags).toHaveLength(2);
    const start = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts.start;
    for (const flag of heapFlags) expect(start).toContain(flag);
    for (const name of ['api', 'worker']) {
      const command = compose.services[name]?.command ?? [];
      expect(command[0]).toBe('node');
      const flags = command.slice(1).filter((arg) => arg.startsWith('--'));
      expect(flags).toEqual(heapFlags);
      const [entry, role] = command.slice(1 + flags.length);
      expect(existsSync(path.join(root, entry ?? ''))).toBe(true);
      expect(cliCommands).toContain(role);
    }
  });

  it('builds from files that exist', () => {
    const build = compose.services.api?.build;
    const copied = [...(build?.dockerfile_inline ?? '').matchAll(/^COPY (.+) \S+$/gm)].flatMap(
      (m) => m[1]?.split(' ') ?? [],
    );
    expect(copied.length).toBeGreaterThan(0);
    for (const file of copied) expect(existsSync(path.join(root, file)), file).toBe(true);
  });

  it('sets only variables Ebb reads', () => {
    for (const name of ['api', 'worker']) {
      for (const variable of Object.keys(compose.services[name]?.environment ?? {})) {
        expect(configVariables, `${name}: ${variable}`).toContain(variable);
      }
    }
  });
});
