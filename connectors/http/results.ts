import { truncateText } from '../shared/http-request.ts';
import type { PlannedChange, RecordOutcome } from '../types.ts';
import type { HttpResultsConfig } from './config.ts';

/**
 * Turns a 2xx answer's per-record results into one outcome per record, matched by key and never by
 * position: APIs may answer in any order, skip records or repeat them. A record the answer does not
 * mention is rejected, so it is sent again on the next run rather than silently assumed delivered.
 */
export function matchResults(
  changes: PlannedChange[],
  text: string,
  config: HttpResultsConfig,
): RecordOutcome[] {
  const list = resultsAt(text, config.path);
  if (!Array.isArray(list)) {
    const where = config.path === '' ? 'the body' : `"${config.path}"`;
    const reason = `the response has no results array at ${where}: ${truncateText(text, 200) || '(empty body)'}`;
    return changes.map((c) => ({ key: c.key, status: 'rejected', reason }));
  }
  const byKey = new Map<string, Record<string, unknown>>();
  for (const item of list) {
    if (!isObject(item)) continue;
    const key = item[config.keyField];
    if (key === undefined || key === null) continue;
    const existing = byKey.get(String(key));
    // A key answered twice counts as failed if either answer failed.
    if (!existing || succeeded(existing, config)) byKey.set(String(key), item);
  }
  return changes.map((change): RecordOutcome => {
    const item = byKey.get(change.key);
    if (!item) {
      return { key: change.key, status: 'rejected', reason: 'the response had no result for this record' };
    }
    if (succeeded(item, config)) {
      const id = config.idField ? item[config.idField] : undefined;
      return {
        key: change.key,
        status: 'accepted',
        ...(id === undefined || id === null ? {} : { destinationRecordId: String(id) }),
      };
    }
    return { key: change.key, status: 'rejected', reason: failureReason(item, config) };
  });
}

function succeeded(item: Record<string, unknown>, config: HttpResultsConfig): boolean {
  if (config.statusField) {
    const value = item[config.statusField];
    return config.successValues.some((ok) => String(ok) === String(value));
  }
  if (config.errorField) {
    const error = item[config.errorField];
    return error === undefined || error === null || error === false || error === '';
  }
  return true;
}

function failureReason(item: Record<string, unknown>, config: HttpResultsConfig): string {
  const error = config.errorField ? item[config.errorField] : undefined;
  if (error !== undefined && error !== null && error !== '') {
    return truncateText(typeof error === 'string' ? error : JSON.stringify(error));
  }
  const status = config.statusField ? item[config.statusField] : undefined;
  return `the API reported ${config.statusField ?? 'status'} ${JSON.stringify(status ?? null)}`;
}

function resultsAt(text: string, path: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (path === '') return value;
  for (const part of path.split('.')) {
    if (!isObject(value)) return undefined;
    value = value[part];
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
