import type { Json, RecordOutcome } from '../types.ts';
import { collectionMaxRecords } from './config.ts';
import { chunk, describeErrors, errorCodeOf, failedOutcome, soqlString, type WireError } from './records.ts';
import type { SalesforceSession } from './session.ts';

/** A change ready for the wire: its key and the sObject fields (plus `Id` for updates and deletes). */
export interface WireRecord {
  key: string;
  fields: Record<string, Json>;
  id?: string;
}

interface WireResult {
  id?: string | null;
  success: boolean;
  created?: boolean;
  errors?: WireError[];
}

export type CollectionOperation = 'upsert' | 'insert' | 'update' | 'delete';

/**
 * Sends at most 200 records in one sObject Collections request with allOrNone=false, so one bad
 * record never holds back the others. Salesforce answers 200 with one result per record in input
 * order (its documented contract), which is how results are matched for these calls.
 */
export async function sendCollection(
  session: SalesforceSession,
  signal: AbortSignal,
  object: string,
  operation: CollectionOperation,
  records: readonly WireRecord[],
  externalIdField: string | null,
): Promise<RecordOutcome[]> {
  if (records.length > collectionMaxRecords)
    throw new Error(`at most ${collectionMaxRecords} records per call`);
  const { conn } = session;
  const results = await session.call(signal, async (): Promise<WireResult[]> => {
    switch (operation) {
      case 'upsert':
        if (!externalIdField) throw new Error('upsert needs an external id field');
        return (await conn.upsert(
          object,
          records.map((r) => r.fields),
          externalIdField,
          { allOrNone: false },
        )) as WireResult[];
      case 'insert':
        return (await conn.create(
          object,
          records.map((r) => r.fields),
          { allOrNone: false },
        )) as WireResult[];
      case 'update':
        return (await conn.update(
          object,
          records.map((r) => ({ ...r.fields, Id: r.id ?? '' })),
          { allOrNone: false },
        )) as WireResult[];
      case 'delete':
        return (await conn.destroy(
          object,
          records.map((r) => r.id ?? ''),
          { allOrNone: false },
        )) as WireResult[];
    }
  });
  session.noteRestCall();
  if (!Array.isArray(results) || results.length !== records.length) {
    // Positional matching is only safe when Salesforce answered one result per record.
    const reason = `Salesforce returned ${Array.isArray(results) ? results.length : 'no'} results for ${records.length} records`;
    return records.map((r) => ({ key: r.key, status: 'retryable', reason }));
  }
  return records.map((record, i): RecordOutcome => {
    const result = results[i] as WireResult;
    if (result.success) {
      return { key: record.key, status: 'accepted', destinationRecordId: result.id ?? record.id ?? null };
    }
    const errors = result.errors ?? [];
    return failedOutcome(
      record.key,
      errors.map(errorCodeOf),
      describeErrors(errors),
      operation,
      externalIdField,
    );
  });
}

/**
 * Salesforce Ids of records found by external id, for updates (which must not create) and deletes of
 * records whose Id Ebb never learned. External ids are case-insensitive unless marked case-sensitive.
 */
export async function lookupIds(
  session: SalesforceSession,
  signal: AbortSignal,
  object: string,
  field: string,
  values: readonly string[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const part of chunk([...new Set(values)], collectionMaxRecords)) {
    const soql = `SELECT Id, ${field} FROM ${object} WHERE ${field} IN (${part.map(soqlString).join(', ')})`;
    const rows = await session.call(signal, async () => {
      const result = await session.conn.query(soql);
      return result.records as Record<string, unknown>[];
    });
    session.noteRestCall();
    for (const row of rows) {
      const id = row.Id;
      const value = row[field];
      if (typeof id === 'string' && value !== null && value !== undefined)
        found.set(String(value).toLowerCase(), id);
    }
  }
  return new Map(
    values.map((v) => [v, found.get(v.toLowerCase())]).filter((e): e is [string, string] => !!e[1]),
  );
}
