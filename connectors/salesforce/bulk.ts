import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from 'jsforce';
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
  signal: AbortSignal,
  logger: Logger,
): Promise<RecordOutcome[]> {
  const { conn } = session;
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
  let opened = false;
  let calls = 0;
  try {
    await session.call(signal, () => job.open());
    opened = true;
    calls += 1;
    // The upload has no request deadline: 100 MB of CSV may legitimately take longer than one call.
    signal.throwIfAborted();
    await job.uploadData(csv);
    calls += 1;
    await session.call(signal, () => job.close());
    calls += 1;
    calls += await waitForJob(session, signal, job);
  } catch (error) {
    if (opened) await abortQuietly(job, logger);
    // Rethrown as is: classifyError reads jsforce's errorCode from it.
    throw error;
  } finally {
    session.noteBulkCalls(calls);
  }
  const [successful, failed, unprocessed] = await session.call(signal, () =>
    Promise.all([job.getSuccessfulResults(), job.getFailedResults(), job.getUnprocessedRecords()]),
  );
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
      failedOutcome(
        key,
        code ? [code] : [],
        error || 'Bulk API reported failure',
        operation,
        operation === 'insert' ? matchField : null,
      ),
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

/**
 * Polls until the job ends, like jsforce's `poll()` but abortable by the run's signal. Returns the
 * number of status requests made (each one counts against the org's API usage).
 */
type IngestJob = ReturnType<Connection['bulk2']['createJob']>;

async function waitForJob(session: SalesforceSession, signal: AbortSignal, job: IngestJob): Promise<number> {
  const { bulkPollIntervalMs, bulkPollTimeoutMs } = session.config;
  const deadline = Date.now() + bulkPollTimeoutMs;
  let polls = 0;
  while (Date.now() < deadline) {
    const info = await session.call(signal, () => job.check());
    polls += 1;
    switch (info.state) {
      case 'JobComplete':
        return polls;
      case 'Failed':
        throw new Error(`Ingest job failed to complete due to: ${info.errorMessage ?? 'no reason given'}`);
      case 'Aborted':
        throw new Error('Job has been aborted');
      default:
        await sleep(bulkPollIntervalMs, undefined, { signal });
    }
  }
  throw Object.assign(new Error(`Bulk API job ${job.id} did not finish within ${bulkPollTimeoutMs} ms`), {
    name: 'JobPollingTimeout',
  });
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
