import type { Logger } from '../../src/logger.ts';
import type { Json, RecordOutcome } from '../types.ts';
import type { WireRecord } from './collections.ts';
import { toCsv } from './csv.ts';
import { failedOutcome } from './records.ts';
import type { SalesforceSession } from './session.ts';

export type BulkOperation = 'upsert' | 'insert' | 'update' | 'delete';

/** Job create, upload, close, two polls and three result downloads: what one job costs at least. */
export const bulkJobBaseCalls = 8;

/**
 * One Bulk API 2.0 ingest job for a whole batch. Salesforce does not keep result order, so results
 * are matched back by the column that identifies each record: the external id for upsert and
 * insert, `Id` for update and delete. Every record gets exactly one outcome; one missing from all
 * three result sets stays retryable.
 */
export async function sendBulkJob(
  session: SalesforceSession,
  object: string,
  operation: BulkOperation,
  records: readonly WireRecord[],
  matchField: string,
  logger: Logger,
): Promise<RecordOutcome[]> {
  const { conn, config } = session;
  const columns = bulkColumns(operation, records, matchField);
  const rows = records.map(
    (r): Record<string, Json | undefined> => (r.id ? { ...r.fields, Id: r.id } : r.fields),
  );
  const csv = toCsv(columns, rows);

  await session.refreshBeforeBulk();
  const job = conn.bulk2.createJob({
    object,
    operation,
    lineEnding: 'LF',
    ...(operation === 'upsert' ? { externalIdFieldName: matchField } : {}),
  });
  let polls = 0;
  job.on('inProgress', () => {
    polls += 1;
  });
  let opened = false;
  try {
    await job.open();
    opened = true;
    await job.uploadData(csv);
    await job.close();
    await job.poll(config.bulkPollIntervalMs, config.bulkPollTimeoutMs);
  } catch (error) {
    if (opened) await abortQuietly(job, logger);
    // Rethrown as is: classifyError reads jsforce's errorCode from it.
    throw error;
  } finally {
    session.noteBulkCalls(4 + polls);
  }
  const [successful, failed, unprocessed] = await Promise.all([
    job.getSuccessfulResults(),
    job.getFailedResults(),
    job.getUnprocessedRecords(),
  ]);
  session.noteBulkCalls(3);

  const keysByMatch = new Map<string, string[]>();
  for (const r of records) {
    const value = matchValue(r, matchField);
    keysByMatch.set(value, [...(keysByMatch.get(value) ?? []), r.key]);
  }
  const outcomes = new Map<string, RecordOutcome>();
  const settle = (row: Record<string, unknown>, make: (key: string) => RecordOutcome) => {
    const value = row[matchField];
    for (const key of keysByMatch.get(value === undefined || value === null ? '' : String(value)) ?? []) {
      if (!outcomes.has(key)) outcomes.set(key, make(key));
    }
  };
  for (const row of successful as Record<string, unknown>[]) {
    settle(row, (key) => ({ key, status: 'accepted', destinationRecordId: stringOrNull(row.sf__Id) }));
  }
  for (const row of failed as Record<string, unknown>[]) {
    const error = String(row.sf__Error ?? '');
    const code = error.split(':')[0] ?? '';
    settle(row, (key) =>
      failedOutcome(key, code ? [code] : [], error || 'Bulk API reported failure', operation),
    );
  }
  if (Array.isArray(unprocessed)) {
    for (const row of unprocessed as Record<string, unknown>[]) {
      settle(row, (key) => ({
        key,
        status: 'retryable',
        reason: 'Bulk API job left this record unprocessed',
      }));
    }
  }
  return records.map(
    (r) =>
      outcomes.get(r.key) ?? {
        key: r.key,
        status: 'retryable',
        reason: 'Bulk API job returned no result for this record',
      },
  );
}

function bulkColumns(operation: BulkOperation, records: readonly WireRecord[], matchField: string): string[] {
  if (operation === 'delete') return ['Id'];
  const names = new Set<string>(operation === 'update' ? ['Id'] : [matchField]);
  for (const r of records) for (const name of Object.keys(r.fields)) names.add(name);
  return [...names];
}

function matchValue(record: WireRecord, matchField: string): string {
  if (matchField === 'Id') return record.id ?? '';
  const value = record.fields[matchField];
  return value === undefined || value === null ? '' : String(value);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

async function abortQuietly(job: { abort(): Promise<void> }, logger: Logger): Promise<void> {
  try {
    await job.abort();
  } catch (error) {
    // The job may already be terminal; the original failure is what the engine acts on.
    logger.warn({ err: error }, 'could not abort the Salesforce Bulk API job');
  }
}
