#!/usr/bin/env -S node --experimental-strip-types --no-warnings --max-semi-space-size=16 --heap-growing-percent=50
// Heap flags, the same in every entry point (package.json scripts, docker-compose.yml): a 16 MiB young
// generation and old-generation growth of 1.5x live between full GCs. Planning and delivery allocate a
// lot of short-lived text; with V8's defaults (64 MiB semi-spaces, growth up to 4x) a 1M-row run grew
// the process to 310-360 MB with under 60 MB live. Measured with bench:diff in alternating runs: peak
// RSS 218-228 MB with both flags, 308-314 MB without the growth flag, 359-363 MB without the young
// generation cap, at equal speed.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { version } from '../version.ts';
import { runRoles } from './roles.ts';
import { runCommand } from './run-command.ts';

const usage = `Usage: ebb <command>

Commands:
  start       run the API, a worker and the scheduler in one process (embedded defaults)
  api         run the REST API (and the scheduler)
  worker      run a worker that claims and executes sync runs (and the scheduler)
  run <sync>  run one sync now in this process, with progress, and print its counts
  migrate     apply database migrations and exit
  version     print the version

Configuration comes from environment variables; see README.md.`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || command === 'help') {
    process.stdout.write(`${usage}\n`);
    return command || values.help ? 0 : 1;
  }
  if (command === 'version') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger(config.log);
  switch (command) {
    case 'start':
      return runRoles(config, logger, ['api', 'worker', 'scheduler']);
    case 'api':
      return runRoles(config, logger, ['api', 'scheduler']);
    case 'worker':
      return runRoles(config, logger, ['worker', 'scheduler']);
    case 'migrate':
      return runRoles(config, logger, []);
    case 'run':
      // The engine's info logs would interleave with the progress bar; warnings and errors still show.
      return runCommand(
        config,
        config.log.level === 'info' ? createLogger({ ...config.log, level: 'warn' }) : logger,
        argv.slice(argv.indexOf('run') + 1),
      );
    default:
      process.stderr.write(`ebb: unknown command "${[command, ...rest].join(' ')}"\n\n${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Expected start-up failures get one line naming the variable; anything else is a bug.
    if (error instanceof ConfigError) {
      process.stderr.write(`ebb: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(
      `ebb: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(70);
  },
);
