import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { destinationChaosScenario, warehouseMidstreamScenario } from './chaos.ts';
import { kill9Scenario } from './kill9.ts';
import { postgresRestartScenario } from './restart.ts';
import { type ScenarioContext, type ScenarioResult, summaryLine } from './scenario.ts';

/**
 * The fault suite (`npm run test:faults`): real worker processes, real Postgres, emulated destinations.
 * Each scenario prints one line `faults:<name> runs=… lost=… duplicates=… ok=…`; the exit code is
 * non-zero when any invariant broke. `FAULTS=a,b` runs a subset; `FAULTS_SEED` replays kill moments.
 */

const scenarios: Record<string, (ctx: ScenarioContext) => Promise<ScenarioResult>> = {
  'kill9-hubspot': (ctx) => kill9Scenario(ctx, 'hubspot'),
  'kill9-webhook': (ctx) => kill9Scenario(ctx, 'webhook'),
  'postgres-restart': postgresRestartScenario,
  'destination-chaos': destinationChaosScenario,
  'warehouse-midstream': warehouseMidstreamScenario,
};

async function main(): Promise<number> {
  const baseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const seed = Number(process.env.FAULTS_SEED || Date.now() % 100_000);
  const logDir = await mkdtemp(path.join(tmpdir(), 'ebb-faults-'));
  const only = process.env.FAULTS?.split(',').filter((s) => s !== '');
  process.stdout.write(`faults: seed=${seed} logs=${logDir}\n`);
  let failed = 0;
  for (const [name, scenario] of Object.entries(scenarios)) {
    if (only && !only.includes(name)) continue;
    const started = Date.now();
    let result: ScenarioResult;
    try {
      result = await scenario({ baseUrl, logDir, seed });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result = { ok: false, fields: { error: message.slice(0, 200) } };
    }
    result.fields.seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (!result.ok) failed += 1;
    process.stdout.write(`${summaryLine(name, result)}\n`);
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `faults: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
