import type { RecordOutcome } from '../types.ts';

/**
 * Matches a HubSpot batch response back to the records sent. HubSpot returns results in no particular
 * order (a maintainer confirmed there is no way to get input order), so a result is matched by the
 * `objectWriteTraceId` it echoes, else by the idProperty value it carries, else by its record id; a
 * 207's `errors[]` name the failing inputs in `context` (ids, idProperty values or trace ids).
 */

export interface SentInput {
  key: string;
  /** Every value HubSpot may use to name this input: trace id, idProperty value, record id. */
  names: string[];
}

export interface ResultLike {
  id: string;
  objectWriteTraceId?: string;
  properties?: Record<string, string | null>;
}

export interface ErrorLike {
  id?: string;
  message?: string;
  category?: string;
  context?: Record<string, string[] | undefined>;
}

/** HubSpot stores emails lower-cased, so an email idProperty is matched without case. */
export function normalizeName(value: string, idProperty: string | null): string {
  return idProperty === 'email' ? value.trim().toLowerCase() : value;
}

export function matchBatchResponse(
  sent: readonly SentInput[],
  response: { results?: readonly ResultLike[]; errors?: readonly ErrorLike[] },
  idProperty: string | null,
): RecordOutcome[] {
  const byName = new Map<string, SentInput>();
  for (const input of sent) {
    for (const name of input.names) byName.set(normalizeName(name, idProperty), input);
  }
  const outcomes = new Map<string, RecordOutcome>();
  const find = (name: string | null | undefined) =>
    name ? byName.get(normalizeName(name, idProperty)) : undefined;

  for (const result of response.results ?? []) {
    const input =
      find(result.objectWriteTraceId) ??
      (idProperty ? find(result.properties?.[idProperty] ?? null) : undefined) ??
      find(result.id);
    if (input && !outcomes.has(input.key)) {
      outcomes.set(input.key, { key: input.key, status: 'accepted', destinationRecordId: result.id });
    }
  }

  const unattributed: string[] = [];
  for (const error of response.errors ?? []) {
    const reason = error.message ?? error.category ?? 'HubSpot rejected this record without a message';
    const names = [error.id, ...Object.values(error.context ?? {}).flatMap((values) => values ?? [])];
    let matched = false;
    for (const name of names) {
      const input = find(name);
      if (!input || outcomes.has(input.key)) continue;
      outcomes.set(input.key, { key: input.key, status: 'rejected', reason });
      matched = true;
    }
    if (!matched) unattributed.push(reason);
  }

  // An input HubSpot neither confirmed nor named in an error cannot be called accepted (the snapshot
  // only records what the destination accepted); it is sent again.
  const missingReason =
    unattributed.length > 0
      ? `HubSpot reported errors it did not attribute to a record: ${unattributed.join('; ')}`
      : 'HubSpot returned no result for this record';
  return sent.map(
    (input) => outcomes.get(input.key) ?? { key: input.key, status: 'retryable', reason: missingReason },
  );
}
