import type {
  BatchFailure,
  DestinationClient,
  ObjectInfo,
  PlannedChange,
  RecordOutcome,
  TestResult,
  WriteContext,
  WriteResult,
} from '../types.ts';
import { bulkJobBaseCalls, sendBulkJob } from './bulk.ts';
import { classifyError } from './classify-error.ts';
import { type CollectionOperation, lookupIds, sendCollection, type WireRecord } from './collections.ts';
import { collectionMaxRecords, type SalesforceConfig } from './config.ts';
import { describeObjects } from './discover.ts';
import { chunk, isApiName, recordFields } from './records.ts';
import { SalesforceSession } from './session.ts';

/** One request (or one Bulk job) of a batch: its records, how many API calls it may cost, and the call. */
interface Step {
  records: readonly WireRecord[];
  calls: number;
  run(signal: AbortSignal): Promise<RecordOutcome[]>;
}

export function createSalesforceClient(
  config: SalesforceConfig,
  blockedReason: string | null,
): DestinationClient {
  const session = new SalesforceSession(config);
  return {
    async test(signal): Promise<TestResult> {
      if (blockedReason) return { ok: false, message: blockedReason };
      try {
        await session.call(signal, () => session.conn.request(`/services/data/v${config.apiVersion}/limits`));
        const usage = session.conn.limitInfo.apiUsage;
        return {
          ok: true,
          message: usage ? `connected; API usage ${usage.used}/${usage.limit}` : 'connected',
        };
      } catch (error) {
        return { ok: false, message: classifyError(error).reason };
      }
    },
    async listObjects(signal): Promise<ObjectInfo[]> {
      if (blockedReason) throw new Error(blockedReason);
      return describeObjects(session, signal);
    },
    async write(batch, context): Promise<WriteResult> {
      if (blockedReason) return { ok: false, failure: { kind: 'fatal', reason: blockedReason } };
      if (!isApiName(context.object)) {
        return {
          ok: false,
          failure: { kind: 'fatal', reason: `"${context.object}" is not a Salesforce object API name` },
        };
      }
      if (context.identifierField !== null && !isApiName(context.identifierField)) {
        const reason = `"${context.identifierField}" is not a Salesforce field API name`;
        return { ok: false, failure: { kind: 'fatal', reason } };
      }
      const { outcomes, steps } = plan(session, batch, context);
      return runSteps(session, context, outcomes, steps);
    },
  };
}

/**
 * Runs the steps in order. A failure before anything was sent is the batch's failure (the engine
 * retries, splits or stops); after some steps succeeded their outcomes are kept and the rest of the
 * batch is returned retryable, so accepted records are never re-sent as creates.
 */
async function runSteps(
  session: SalesforceSession,
  context: WriteContext,
  outcomes: RecordOutcome[],
  steps: readonly Step[],
): Promise<WriteResult> {
  let sent = 0;
  for (const [index, step] of steps.entries()) {
    let failure: BatchFailure | null;
    try {
      failure = await session.checkBudget(step.calls, context.signal);
      if (!failure) {
        outcomes.push(...(await step.run(context.signal)));
        sent += 1;
        continue;
      }
    } catch (error) {
      failure = classifyError(error);
    }
    if (sent === 0) return { ok: false, failure };
    context.logger.warn({ failure }, 'Salesforce request failed after part of the batch was sent');
    const waitMs = failure.kind === 'retry' ? failure.waitMs : undefined;
    for (const rest of steps.slice(index)) {
      for (const r of rest.records)
        outcomes.push({ key: r.key, status: 'retryable', reason: failure.reason, waitMs });
    }
    break;
  }
  return { ok: true, outcomes };
}

function plan(
  session: SalesforceSession,
  batch: readonly PlannedChange[],
  context: WriteContext,
): { outcomes: RecordOutcome[]; steps: Step[] } {
  const outcomes: RecordOutcome[] = [];
  const groups: Record<CollectionOperation, WireRecord[]> = {
    upsert: [],
    insert: [],
    update: [],
    delete: [],
  };
  const byExternalId: Record<'update' | 'delete', WireRecord[]> = { update: [], delete: [] };
  const extField =
    context.identifierField && context.identifierField !== 'Id' ? context.identifierField : null;

  for (const change of batch) {
    const reject = (reason: string) => outcomes.push({ key: change.key, status: 'rejected', reason });
    const built =
      change.operation === 'delete' ? { ok: true as const, fields: {} } : recordFields(change, extField);
    if (!built.ok) {
      reject(built.reason);
      continue;
    }
    const record: WireRecord = { key: change.key, fields: built.fields };
    const id = change.destinationRecordId ?? (context.identifierField === 'Id' ? change.identifier : null);
    switch (change.operation) {
      case 'upsert':
        if (!extField) reject('upsert needs an external id field as the sync identifier');
        else if (change.identifier === null || change.identifier === '') reject(`no value for ${extField}`);
        else groups.upsert.push(record);
        break;
      case 'insert':
        groups.insert.push(record);
        break;
      case 'update':
      case 'delete':
        if (id) groups[change.operation].push({ ...record, id });
        else if (extField && change.identifier) {
          byExternalId[change.operation].push({
            ...record,
            fields: { ...record.fields, [extField]: change.identifier },
          });
        } else reject(`no Salesforce Id or ${extField ?? 'external id'} value to ${change.operation} by`);
        break;
    }
  }

  const steps: Step[] = [];
  const threshold = session.config.bulkThreshold;
  const { object } = context;
  for (const operation of ['upsert', 'insert', 'update', 'delete'] as const) {
    const direct = groups[operation];
    const lookup = operation === 'update' || operation === 'delete' ? byExternalId[operation] : [];
    const all = [...direct, ...lookup];
    const matchField = operation === 'update' || operation === 'delete' ? 'Id' : extField;
    // Bulk results come back unordered, so a job needs a column to match them by; inserts without
    // an external id therefore always go through Collections, whose results are positional.
    const useBulk = threshold !== undefined && all.length >= threshold && matchField !== null;
    if (useBulk && matchField) {
      steps.push({
        records: all,
        calls: bulkJobBaseCalls + Math.ceil(lookup.length / collectionMaxRecords),
        async run(signal) {
          const { found, missing } = await resolveIds(session, signal, object, extField, operation, lookup);
          const bulk = await sendBulkJob(
            session,
            object,
            operation,
            [...direct, ...found],
            matchField,
            signal,
            context.logger,
          );
          return [...bulk, ...missing];
        },
      });
      continue;
    }
    for (const part of chunk(direct, collectionMaxRecords)) {
      steps.push({
        records: part,
        calls: 1,
        run: (signal) => sendCollection(session, signal, object, operation, part, extField),
      });
    }
    for (const part of chunk(lookup, collectionMaxRecords)) {
      steps.push({
        records: part,
        calls: 2,
        async run(signal) {
          const { found, missing } = await resolveIds(session, signal, object, extField, operation, part);
          const sent =
            found.length > 0 ? await sendCollection(session, signal, object, operation, found, extField) : [];
          return [...sent, ...missing];
        },
      });
    }
  }
  return { outcomes, steps };
}

/**
 * Finds Ids by external id. An update that matches nothing is rejected (update mode never creates);
 * a delete that matches nothing is already done.
 */
async function resolveIds(
  session: SalesforceSession,
  signal: AbortSignal,
  object: string,
  extField: string | null,
  operation: CollectionOperation,
  records: readonly WireRecord[],
): Promise<{ found: WireRecord[]; missing: RecordOutcome[] }> {
  if (records.length === 0 || !extField) return { found: [], missing: [] };
  const values = records.map((r) => String(r.fields[extField]));
  const ids = await lookupIds(session, signal, object, extField, values);
  const found: WireRecord[] = [];
  const missing: RecordOutcome[] = [];
  for (const [i, record] of records.entries()) {
    const value = values[i] ?? '';
    const id = ids.get(value);
    if (id) found.push({ ...record, id });
    else if (operation === 'delete')
      missing.push({ key: record.key, status: 'accepted', destinationRecordId: null });
    else
      missing.push({
        key: record.key,
        status: 'rejected',
        reason: `not found: no ${object} with ${extField} = ${value}`,
      });
  }
  return { found, missing };
}
