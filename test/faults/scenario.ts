/** What every fault scenario is given, and what it reports as its one summary line. */
export interface ScenarioContext {
  /** A Postgres server URL with rights to create databases (the shared test server). */
  baseUrl: string;
  /** Where worker processes write their logs, for reading after a failure. */
  logDir: string;
  /** Seeds the random kill moments and faults, so a failing run can be replayed. */
  seed: number;
}

export interface ScenarioResult {
  ok: boolean;
  /** Printed in order after the scenario name; `runs`, `lost` and `duplicates` come first. */
  fields: Record<string, string | number>;
}

export function summaryLine(name: string, result: ScenarioResult): string {
  const { runs, lost, duplicates, ...rest } = result.fields;
  const parts = [`runs=${runs ?? 0}`, `lost=${lost ?? 0}`, `duplicates=${duplicates ?? 0}`];
  for (const [key, value] of Object.entries(rest)) parts.push(`${key}=${String(value).replace(/\s+/g, '_')}`);
  parts.push(`ok=${result.ok}`);
  return `faults:${name} ${parts.join(' ')}`;
}
