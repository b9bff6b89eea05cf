import type { Json, PlannedChange, RecordOutcome } from '../types.ts';

/** Salesforce API names: letters, digits and underscores, starting with a letter (`Ext_Id__c`). */
const apiName = /^[A-Za-z][A-Za-z0-9_]*$/;

export function isApiName(name: string): boolean {
  return apiName.test(name);
}

/** Record-level error codes that clear on their own (row locks, rolled-back all-or-none siblings). */
const transientRecordCodes = new Set([
  'UNABLE_TO_LOCK_ROW',
  'ALL_OR_NONE_OPERATION_ROLLED_BACK',
  'SERVER_UNAVAILABLE',
]);

/**
 * Deleting a record that is already gone is the outcome a mirror run wants: a resumed run re-sends
 * deletes it sent before a crash, and they must not become rejections.
 */
const alreadyDeletedCodes = new Set(['ENTITY_IS_DELETED', 'INVALID_CROSS_REFERENCE_KEY']);

export interface WireError {
  statusCode?: string;
  errorCode?: string;
  message?: string;
  fields?: string[];
}

/** jsforce's types say `errorCode`; the wire and the runtime objects say `statusCode`. */
export function errorCodeOf(error: WireError): string {
  return error.statusCode ?? error.errorCode ?? 'UNKNOWN_ERROR';
}

export function describeErrors(errors: readonly WireError[]): string {
  if (errors.length === 0) return 'Salesforce reported failure without an error';
  return errors
    .map((e) => {
      const fields = e.fields && e.fields.length > 0 ? ` [${e.fields.join(', ')}]` : '';
      return `${errorCodeOf(e)}: ${e.message ?? ''}${fields}`;
    })
    .join('; ');
}

/** One outcome for a record Salesforce refused, from its `statusCode`s. */
export function failedOutcome(
  key: string,
  codes: readonly string[],
  reason: string,
  operation: string,
  externalIdField: string | null,
): RecordOutcome {
  // An insert that collides on its own external id was created by an earlier attempt whose answer
  // was lost (or the record exists already): either way the row's record is there, with this Id.
  const existing = /duplicates value on record with id: ([A-Za-z0-9]{15,18})/.exec(reason)?.[1];
  if (
    operation === 'insert' &&
    externalIdField &&
    existing &&
    codes.length === 1 &&
    codes[0] === 'DUPLICATE_VALUE' &&
    reason.includes(externalIdField)
  ) {
    return { key, status: 'accepted', destinationRecordId: existing };
  }
  if (operation === 'delete' && codes.length > 0 && codes.every((c) => alreadyDeletedCodes.has(c))) {
    return { key, status: 'accepted', destinationRecordId: null };
  }
  if (codes.length > 0 && codes.every((c) => transientRecordCodes.has(c))) {
    return { key, status: 'retryable', reason };
  }
  return { key, status: 'rejected', reason };
}

/**
 * The sObject fields for one change, or a reason the change cannot be sent. The identifier value is
 * written into its field so an upsert or insert carries the external id it will be matched by.
 */
export function recordFields(
  change: PlannedChange,
  identifierField: string | null,
): { ok: true; fields: Record<string, Json> } | { ok: false; reason: string } {
  const fields: Record<string, Json> = {};
  for (const [name, value] of Object.entries(change.fields)) {
    if (!isApiName(name)) return { ok: false, reason: `"${name}" is not a Salesforce field API name` };
    if (name === 'Id' || name === 'attributes') continue;
    fields[name] = value;
  }
  if (identifierField && change.identifier !== null && identifierField !== 'Id') {
    fields[identifierField] = change.identifier;
  }
  return { ok: true, fields };
}

/** SOQL string literal: backslash and single quote are the characters that must be escaped. */
export function soqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
