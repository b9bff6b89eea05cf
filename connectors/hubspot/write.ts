import type { Json, PlannedChange, RecordOutcome, WriteContext, WriteResult } from '../types.ts';
import { classifyError } from './classify-error.ts';
import { type ErrorLike, matchBatchResponse, type ResultLike, type SentInput } from './match.ts';
import type { HubspotApis } from './sdk.ts';

/**
 * Turns one engine batch into HubSpot batch calls and one outcome per record:
 * - upsert → `batch/upsert` by the sync's identifier property (idProperty in each input, as the SDK sends);
 * - update → `batch/update` by the record id from the snapshot, else by the identifier property;
 * - insert → `batch/create`, each input carrying its idempotency key as `objectWriteTraceId`, so a bad
 *   input comes back as a 207 error of its own instead of failing the whole batch;
 * - delete (mirror) → `batch/archive` by record id; records known only by identifier are looked up with
 *   `batch/read` first, and one that no longer exists counts as removed.
 */

/** HubSpot's documented cap on inputs per batch call. */
export const maxBatchInputs = 100;

type Call =
  | { kind: 'upsert'; changes: PlannedChange[] }
  | { kind: 'update-by-id'; changes: PlannedChange[] }
  | { kind: 'update-by-property'; changes: PlannedChange[] }
  | { kind: 'create'; changes: PlannedChange[] }
  | { kind: 'archive'; changes: PlannedChange[] };

/** Property values are strings on the wire; an empty string clears a HubSpot property. */
export function toPropertyValue(value: Json): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function propertiesOf(change: PlannedChange, idProperty: string | null): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries(change.fields)) properties[name] = toPropertyValue(value);
  if (idProperty && change.identifier !== null && !(idProperty in properties)) {
    properties[idProperty] = change.identifier;
  }
  return properties;
}

function namesOf(change: PlannedChange): string[] {
  const names = [change.idempotencyKey];
  if (change.identifier !== null) names.push(change.identifier);
  if (change.destinationRecordId !== null) names.push(change.destinationRecordId);
  return names;
}

function plan(batch: readonly PlannedChange[], idProperty: string | null) {
  const rejected: RecordOutcome[] = [];
  const groups: Record<Call['kind'], PlannedChange[]> = {
    upsert: [],
    'update-by-id': [],
    'update-by-property': [],
    create: [],
    archive: [],
  };
  const reject = (change: PlannedChange, reason: string) =>
    rejected.push({ key: change.key, status: 'rejected', reason });
  for (const change of batch) {
    switch (change.operation) {
      case 'upsert':
        if (!idProperty) reject(change, 'upsert needs an identifier property (such as email) in the sync');
        else if (change.identifier === null || change.identifier === '') {
          reject(change, `no value for the identifier property ${idProperty}`);
        } else groups.upsert.push(change);
        break;
      case 'update':
        if (change.destinationRecordId !== null) groups['update-by-id'].push(change);
        else if (idProperty && change.identifier) groups['update-by-property'].push(change);
        else reject(change, 'no HubSpot record id or identifier value to update this record by');
        break;
      case 'insert':
        groups.create.push(change);
        break;
      case 'delete':
        if (change.destinationRecordId !== null || (idProperty && change.identifier)) {
          groups.archive.push(change);
        } else reject(change, 'no HubSpot record id or identifier value to archive this record by');
        break;
    }
  }
  const calls: Call[] = [];
  for (const [kind, changes] of Object.entries(groups) as [Call['kind'], PlannedChange[]][]) {
    for (let i = 0; i < changes.length; i += maxBatchInputs) {
      calls.push({ kind, changes: changes.slice(i, i + maxBatchInputs) } as Call);
    }
  }
  return { rejected, calls };
}

interface BatchResponse {
  results?: readonly ResultLike[];
  errors?: readonly ErrorLike[];
}

async function archive(
  apis: HubspotApis,
  object: string,
  changes: PlannedChange[],
  idProperty: string | null,
): Promise<RecordOutcome[]> {
  const ids = new Map<string, string>();
  const outcomes: RecordOutcome[] = [];
  const unresolved = changes.filter((c) => {
    if (c.destinationRecordId !== null) ids.set(c.key, c.destinationRecordId);
    return c.destinationRecordId === null;
  });
  if (unresolved.length > 0 && idProperty) {
    const found: BatchResponse = await apis.batch.read(object, {
      inputs: unresolved.map((c) => ({ id: c.identifier ?? '' })),
      idProperty,
      properties: [idProperty],
      propertiesWithHistory: [],
    });
    const matched = matchBatchResponse(
      unresolved.map((c) => ({ key: c.key, names: [c.identifier ?? ''] })),
      found,
      idProperty,
    );
    for (const outcome of matched) {
      if (outcome.status === 'accepted' && outcome.destinationRecordId) {
        ids.set(outcome.key, outcome.destinationRecordId);
      } else {
        // Not found by its identifier: the record is already gone, which is what removal asks for.
        outcomes.push({ key: outcome.key, status: 'accepted', destinationRecordId: null });
      }
    }
  }
  if (ids.size > 0) {
    // 204 with no body: HubSpot archives every listed id (unknown ids included) or fails the request.
    await apis.batch.archive(object, { inputs: [...ids.values()].map((id) => ({ id })) });
    for (const [key, id] of ids) outcomes.push({ key, status: 'accepted', destinationRecordId: id });
  }
  return outcomes;
}

/** Inputs that name their record by the id property's value (upsert, and update without a record id). */
function byProperty(changes: readonly PlannedChange[], idProperty: string | null) {
  return changes.map((c) => ({
    id: c.identifier ?? '',
    idProperty: idProperty ?? undefined,
    objectWriteTraceId: c.idempotencyKey,
    properties: propertiesOf(c, idProperty),
  }));
}

async function send(apis: HubspotApis, call: Call, object: string, idProperty: string | null) {
  const sent: SentInput[] = call.changes.map((c) => ({ key: c.key, names: namesOf(c) }));
  let response: BatchResponse;
  switch (call.kind) {
    case 'archive':
      return archive(apis, object, call.changes, idProperty);
    case 'upsert':
      response = await apis.batch.upsert(object, { inputs: byProperty(call.changes, idProperty) });
      break;
    case 'update-by-id':
      response = await apis.batch.update(object, {
        inputs: call.changes.map((c) => ({
          id: c.destinationRecordId ?? '',
          objectWriteTraceId: c.idempotencyKey,
          properties: propertiesOf(c, idProperty),
        })),
      });
      break;
    case 'update-by-property':
      response = await apis.batch.update(object, { inputs: byProperty(call.changes, idProperty) });
      break;
    case 'create':
      response = await apis.batch.create(object, {
        inputs: call.changes.map((c) => ({
          objectWriteTraceId: c.idempotencyKey,
          properties: propertiesOf(c, idProperty),
          associations: [],
        })),
      });
      break;
  }
  return matchBatchResponse(sent, response, idProperty);
}

export async function writeBatch(
  apis: HubspotApis,
  batch: PlannedChange[],
  context: WriteContext,
): Promise<WriteResult> {
  const idProperty = context.identifierField;
  const { rejected, calls } = plan(batch, idProperty);
  const outcomes: RecordOutcome[] = [...rejected];
  const onAbort = () => apis.abortInFlight();
  context.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (const [index, call] of calls.entries()) {
      if (context.signal.aborted) return { ok: false, failure: { kind: 'retry', reason: 'cancelled' } };
      try {
        outcomes.push(...(await send(apis, call, context.object, idProperty)));
      } catch (error) {
        const failure = classifyError(error);
        context.logger.warn(
          { object: context.object, call: call.kind, failure },
          'HubSpot batch call failed',
        );
        // Alone in the batch, the failure is the batch's. After other calls of a mixed batch went
        // through, their outcomes are kept and the rest is sent again (then alone) unless nothing can
        // succeed; earlier effects are idempotent (upsert, update, archive), so a re-send is harmless.
        const soloCall = outcomes.length === rejected.length;
        if (soloCall || failure.kind === 'fatal' || failure.kind === 'quota') return { ok: false, failure };
        const waitMs = failure.kind === 'retry' ? failure.waitMs : undefined;
        for (const rest of calls.slice(index)) {
          for (const change of rest.changes) {
            outcomes.push({ key: change.key, status: 'retryable', reason: failure.reason, waitMs });
          }
        }
        break;
      }
    }
    return { ok: true, outcomes };
  } finally {
    context.signal.removeEventListener('abort', onAbort);
  }
}
