import { randomUUID } from 'node:crypto';
import type { Org, SaveResult, SObjectRecord } from './org.ts';
import { notFound, type Reply } from './rest.ts';

/** Bulk API 2.0 ingest jobs: the lifecycle, CSV in, result CSVs out in shuffled order. */

export type JobState = 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
type Operation = 'insert' | 'update' | 'upsert' | 'delete';

export interface IngestJob {
  id: string;
  object: string;
  operation: Operation;
  externalIdFieldName?: string;
  state: JobState;
  csv: string;
  errorMessage?: string;
  createdDate: string;
  successful: string[][];
  failed: string[][];
  unprocessed: string[][];
  header: string[];
  processed: number;
  failedCount: number;
}

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

export function writeCsv(rows: string[][]): string {
  return `${rows.map((r) => r.map((c) => `"${c.replace(/"/g, '""')}"`).join(',')).join('\n')}\n`;
}

export function newJob(body: Record<string, unknown>): IngestJob | string {
  const object = body.object;
  const operation = body.operation;
  if (typeof object !== 'string') return 'object is required';
  if (operation !== 'insert' && operation !== 'update' && operation !== 'upsert' && operation !== 'delete') {
    return `unsupported operation ${String(operation)}`;
  }
  if (operation === 'upsert' && typeof body.externalIdFieldName !== 'string') {
    return 'externalIdFieldName is required for upsert';
  }
  return {
    id: `750${randomUUID().replace(/-/g, '').slice(0, 15)}`,
    object,
    operation,
    externalIdFieldName: typeof body.externalIdFieldName === 'string' ? body.externalIdFieldName : undefined,
    state: 'Open',
    csv: '',
    createdDate: new Date().toISOString(),
    successful: [],
    failed: [],
    unprocessed: [],
    header: [],
    processed: 0,
    failedCount: 0,
  };
}

export function jobInfo(job: IngestJob, version: string): Record<string, unknown> {
  return {
    id: job.id,
    operation: job.operation,
    object: job.object,
    createdById: '005000000000001AAA',
    createdDate: job.createdDate,
    systemModstamp: job.createdDate,
    state: job.state,
    externalIdFieldName: job.externalIdFieldName,
    concurrencyMode: 'Parallel',
    contentType: 'CSV',
    apiVersion: Number(version),
    contentUrl: `services/data/v${version}/jobs/ingest/${job.id}/batches`,
    lineEnding: 'LF',
    columnDelimiter: 'COMMA',
    jobType: 'V2Ingest',
    numberRecordsProcessed: job.processed,
    numberRecordsFailed: job.failedCount,
    errorMessage: job.errorMessage,
  };
}

/**
 * Applies an uploaded job to the org. `#N/A` clears a field; an empty cell leaves it unchanged.
 * `recordFault` lets the server inject transient per-record errors.
 */
export function processJob(
  job: IngestJob,
  org: Org,
  recordFault: () => SaveResult | null,
  shuffle: <T>(a: T[]) => T[],
): void {
  const rows = parseCsv(job.csv);
  const header = rows.shift() ?? [];
  job.header = header;
  if (!org.objects.has(job.object)) {
    job.state = 'Failed';
    job.errorMessage = `InvalidBatch : sObject type '${job.object}' is not supported`;
    return;
  }
  const unknown = org.unknownField(job.object, Object.fromEntries(header.map((h) => [h, ''])));
  if (unknown && unknown !== 'Id') {
    job.state = 'Failed';
    job.errorMessage = `InvalidBatch : Field name not found : ${unknown}`;
    return;
  }
  for (const row of rows) {
    if (row.length === 1 && row[0] === '') continue;
    const fields: SObjectRecord = {};
    header.forEach((name, i) => {
      const cell = row[i] ?? '';
      if (cell === '#N/A') fields[name] = null;
      else if (cell !== '') fields[name] = cell;
    });
    const id = typeof fields.Id === 'string' ? fields.Id : '';
    delete fields.Id;
    const result =
      recordFault() ??
      (job.operation === 'insert'
        ? org.create(job.object, fields)
        : job.operation === 'upsert'
          ? org.upsert(job.object, job.externalIdFieldName ?? '', fields)
          : job.operation === 'update'
            ? org.update(job.object, id, fields)
            : org.delete(job.object, id));
    job.processed += 1;
    if (result.success) {
      job.successful.push([result.id ?? '', String(result.created ?? job.operation === 'insert'), ...row]);
    } else {
      job.failedCount += 1;
      const error = result.errors
        .map((e) => `${e.statusCode}:${e.message}:${e.fields.join(',')} --`)
        .join(' ');
      job.failed.push([result.id ?? '', error, ...row]);
    }
  }
  job.successful = shuffle(job.successful);
  job.failed = shuffle(job.failed);
  job.state = 'JobComplete';
}

/** The `/jobs/ingest` resources: create, upload (a chunked CSV PUT answered 201), close, poll, results. */
export function handleBulk(
  jobs: Map<string, IngestJob>,
  org: Org,
  recordFault: () => SaveResult | null,
  shuffle: <T>(a: T[]) => T[],
  request: { method: string; path: string; body: unknown; raw: string; version: string },
): Reply {
  const { method, path, body, raw, version } = request;
  if (path === '/jobs/ingest' && method === 'POST') {
    const job = newJob((body ?? {}) as Record<string, unknown>);
    if (typeof job === 'string') return { status: 400, body: [{ errorCode: 'INVALIDJOB', message: job }] };
    jobs.set(job.id, job);
    return { status: 200, body: jobInfo(job, version) };
  }
  const m = /^\/jobs\/ingest\/(\w+)(\/\w+)?$/.exec(path);
  const job = jobs.get(m?.[1] ?? '');
  if (!m || !job) return notFound;
  const sub = m[2];
  const invalidState = (message: string): Reply => ({
    status: 409,
    body: [{ errorCode: 'INVALIDJOBSTATE', message }],
  });
  if (sub === '/batches' && method === 'PUT') {
    if (job.state !== 'Open') return invalidState('Job is not open');
    job.csv += raw;
    return { status: 201, body: undefined, type: 'text/plain' };
  }
  if (!sub && method === 'PATCH') {
    const state = (body as { state?: string } | null)?.state;
    if (state === 'UploadComplete' && job.state === 'Open') job.state = 'UploadComplete';
    else if (state === 'Aborted' && ['Open', 'UploadComplete', 'InProgress'].includes(job.state)) {
      job.state = 'Aborted';
    } else return invalidState(`cannot move a ${job.state} job to ${state}`);
    return { status: 200, body: jobInfo(job, version) };
  }
  if (!sub && method === 'GET') {
    // Processing happens between polls, so a client always sees InProgress once.
    if (job.state === 'InProgress') processJob(job, org, recordFault, shuffle);
    else if (job.state === 'UploadComplete') job.state = 'InProgress';
    return { status: 200, body: jobInfo(job, version) };
  }
  if (!sub && method === 'DELETE') {
    jobs.delete(job.id);
    return { status: 204, body: undefined, type: 'text/plain' };
  }
  const csv = (rows: string[][]): Reply => ({ status: 200, body: writeCsv(rows), type: 'text/csv' });
  if (method === 'GET' && sub === '/successfulResults') {
    return csv([['sf__Id', 'sf__Created', ...job.header], ...job.successful]);
  }
  if (method === 'GET' && sub === '/failedResults')
    return csv([['sf__Id', 'sf__Error', ...job.header], ...job.failed]);
  if (method === 'GET' && sub === '/unprocessedrecords') return csv([job.header, ...job.unprocessed]);
  return notFound;
}
