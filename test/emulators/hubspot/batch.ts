import type { CrmRecord, CrmStore, ObjectTypeDefinition } from './crm-store.ts';
import { isUniqueProperty } from './crm-store.ts';

/**
 * The CRM v3 batch endpoints, as HubSpot answers them: create 201, update/upsert/read 200, 207 when
 * some inputs failed (successes applied, each failure in `errors[]` naming its input in `context`),
 * archive 204. A batch refused whole (too many inputs, duplicate ids, a bad create without trace ids)
 * is a 400/409 and changes nothing.
 */

export type Validator = (objectType: string, properties: Record<string, string>) => string | null;

export interface BatchEnv {
  store: CrmStore;
  type: ObjectTypeDefinition;
  now: string;
  shuffle<T>(items: T[]): T[];
  /** Extra per-record rejections (a test's "invalid value" fault). */
  rejectWhen?: Validator;
}

export interface Reply {
  status: number;
  body?: unknown;
}

interface StandardError {
  status: 'error';
  category: string;
  message: string;
  context: Record<string, string[]>;
  errors: { message: string; code?: string; context?: Record<string, string[]> }[];
  links: Record<string, string>;
}

type Input = {
  id?: unknown;
  idProperty?: unknown;
  objectWriteTraceId?: unknown;
  properties?: unknown;
};

export const maxInputs = 100;

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function requestError(status: number, category: string, message: string): Reply {
  return { status, body: { status: 'error', message, correlationId: crypto.randomUUID(), category } };
}

function recordError(category: string, message: string, context: Record<string, string[]>): StandardError {
  return { status: 'error', category, message, context, errors: [{ message, context }], links: {} };
}

/** HubSpot's validation of property values; returns the error message for the first bad one. */
function validateProperties(env: BatchEnv, properties: Record<string, string>): string | null {
  const problems: { isValid: false; message: string; error: string; name: string }[] = [];
  for (const [name, value] of Object.entries(properties)) {
    const definition = env.type.properties.find((p) => p.name === name);
    if (!definition) {
      problems.push({
        isValid: false,
        message: `Property "${name}" does not exist`,
        error: 'PROPERTY_DOESNT_EXIST',
        name,
      });
    } else if (definition.readOnly) {
      problems.push({
        isValid: false,
        message: `"${name}" is a read only property; its value cannot be set.`,
        error: 'READ_ONLY_VALUE',
        name,
      });
    } else if (name === 'email' && value !== '' && !emailPattern.test(value)) {
      problems.push({
        isValid: false,
        message: `Email address ${value} is invalid`,
        error: 'INVALID_EMAIL',
        name,
      });
    }
  }
  if (problems.length > 0) return `Property values were not valid: ${JSON.stringify(problems)}`;
  return env.rejectWhen?.(env.type.name, properties) ?? null;
}

function toResult(record: CrmRecord, extra: Record<string, unknown> = {}, only?: readonly string[]) {
  const properties = only
    ? Object.fromEntries(only.map((name) => [name, record.properties[name] ?? null]))
    : { ...record.properties };
  return {
    id: record.id,
    properties,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    archived: false,
    ...extra,
  };
}

function stringProperties(input: Input): Record<string, string> | undefined {
  if (typeof input.properties !== 'object' || input.properties === null) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.properties)) {
    if (value === null) out[name] = '';
    else out[name] = String(value);
  }
  return out;
}

function finish(env: BatchEnv, okStatus: number, results: unknown[], errors: StandardError[]): Reply {
  const completedAt = new Date().toISOString();
  const body: Record<string, unknown> = {
    status: 'COMPLETE',
    results: env.shuffle(results),
    startedAt: env.now,
    completedAt,
  };
  if (errors.length > 0) {
    body.numErrors = errors.length;
    body.errors = env.shuffle(errors);
  }
  return { status: errors.length > 0 ? 207 : okStatus, body };
}

function checkInputs(body: unknown): Input[] | Reply {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs))
    return requestError(400, 'VALIDATION_ERROR', 'Invalid input JSON: inputs is required');
  if (inputs.length > maxInputs) {
    return requestError(
      400,
      'VALIDATION_ERROR',
      `Batch input size ${inputs.length} exceeds the limit of ${maxInputs} inputs`,
    );
  }
  return inputs as Input[];
}

function duplicates(values: string[]): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) repeated.add(value);
    seen.add(value);
  }
  return [...repeated];
}

export function upsert(env: BatchEnv, body: unknown): Reply {
  const inputs = checkInputs(body);
  if (!Array.isArray(inputs)) return inputs;
  for (const input of inputs) {
    if (typeof input.idProperty !== 'string' || typeof input.id !== 'string') {
      return requestError(400, 'VALIDATION_ERROR', 'Each upsert input needs an id and an idProperty');
    }
    if (!isUniqueProperty(env.type, input.idProperty) || input.idProperty === 'hs_object_id') {
      return requestError(400, 'VALIDATION_ERROR', `${input.idProperty} is not a unique property`);
    }
  }
  const dupes = duplicates(inputs.map((i) => String(i.id).toLowerCase()));
  if (dupes.length > 0) {
    return requestError(400, 'VALIDATION_ERROR', `Duplicate IDs found in batch input: [${dupes.join(', ')}]`);
  }
  const results: unknown[] = [];
  const errors: StandardError[] = [];
  for (const input of inputs) {
    const id = String(input.id);
    const idProperty = String(input.idProperty);
    const properties = { ...(stringProperties(input) ?? {}), [idProperty]: id };
    const invalid = validateProperties(env, properties);
    if (invalid) {
      errors.push(recordError('VALIDATION_ERROR', invalid, { ids: [id] }));
      continue;
    }
    const existing = env.store.findBy(env.type, idProperty, id);
    const conflict = env.store.uniqueConflict(env.type, properties, existing?.id ?? null);
    if (conflict) {
      const message = `A record with ${conflict.property} ${conflict.value} already exists. Existing ID: ${conflict.holder.id}`;
      errors.push(recordError('CONFLICT', message, { ids: [id] }));
      continue;
    }
    const trace =
      typeof input.objectWriteTraceId === 'string' ? { objectWriteTraceId: input.objectWriteTraceId } : {};
    if (existing) {
      env.store.apply(env.type, existing, properties, env.now);
      results.push(toResult(existing, { ...trace, new: false }));
    } else {
      results.push(toResult(env.store.create(env.type, properties, env.now), { ...trace, new: true }));
    }
  }
  return finish(env, 200, results, errors);
}

export function update(env: BatchEnv, body: unknown): Reply {
  const inputs = checkInputs(body);
  if (!Array.isArray(inputs)) return inputs;
  const dupes = duplicates(inputs.map((i) => String(i.id)));
  if (dupes.length > 0) {
    return requestError(400, 'VALIDATION_ERROR', `Duplicate IDs found in batch input: [${dupes.join(', ')}]`);
  }
  const results: unknown[] = [];
  const errors: StandardError[] = [];
  for (const input of inputs) {
    const id = String(input.id);
    const idProperty = typeof input.idProperty === 'string' ? input.idProperty : 'hs_object_id';
    const record = env.store.findBy(env.type, idProperty, id);
    if (!record) {
      errors.push(
        recordError('OBJECT_NOT_FOUND', 'Object not found.  objectId are usually numeric.', { ids: [id] }),
      );
      continue;
    }
    const properties = stringProperties(input) ?? {};
    const invalid = validateProperties(env, properties);
    const conflict = invalid ? undefined : env.store.uniqueConflict(env.type, properties, record.id);
    if (invalid || conflict) {
      const message =
        invalid ??
        `A record with ${conflict?.property} ${conflict?.value} already exists. Existing ID: ${conflict?.holder.id}`;
      errors.push(recordError(invalid ? 'VALIDATION_ERROR' : 'CONFLICT', message, { ids: [id] }));
      continue;
    }
    env.store.apply(env.type, record, properties, env.now);
    const trace =
      typeof input.objectWriteTraceId === 'string' ? { objectWriteTraceId: input.objectWriteTraceId } : {};
    results.push(toResult(record, trace));
  }
  return finish(env, 200, results, errors);
}

export function create(env: BatchEnv, body: unknown): Reply {
  const inputs = checkInputs(body);
  if (!Array.isArray(inputs)) return inputs;
  const traceIds = inputs.map((i) => i.objectWriteTraceId);
  // Per-input errors only when every input carries its own trace id; otherwise one bad input fails all.
  const traced =
    traceIds.every((t) => typeof t === 'string') && duplicates(traceIds.map(String)).length === 0;
  const planned: { properties: Record<string, string>; trace?: string; error?: StandardError }[] = [];
  const claimed = new Map<string, string>();
  for (const input of inputs) {
    const properties = stringProperties(input) ?? {};
    const trace = typeof input.objectWriteTraceId === 'string' ? input.objectWriteTraceId : undefined;
    const context: Record<string, string[]> = trace ? { objectWriteTraceId: [trace] } : {};
    const invalid = validateProperties(env, properties);
    const conflict = invalid ? undefined : env.store.uniqueConflict(env.type, properties, null);
    let sibling: string | undefined;
    for (const [name, value] of Object.entries(properties)) {
      if (!isUniqueProperty(env.type, name) || value === '') continue;
      const claim = `${name}\n${value.toLowerCase()}`;
      sibling ??= claimed.get(claim);
      claimed.set(claim, trace ?? '');
    }
    let error: StandardError | undefined;
    if (invalid) error = recordError('VALIDATION_ERROR', invalid, context);
    else if (conflict) {
      error = recordError(
        'CONFLICT',
        `A record with ${conflict.property} ${conflict.value} already exists. Existing ID: ${conflict.holder.id}`,
        context,
      );
    } else if (sibling !== undefined) {
      error = recordError('CONFLICT', 'Another input in this batch has the same unique value', context);
    }
    planned.push({ properties, trace, error });
  }
  const firstError = planned.find((p) => p.error)?.error;
  if (firstError && !traced) {
    return requestError(
      firstError.category === 'CONFLICT' ? 409 : 400,
      firstError.category,
      firstError.message,
    );
  }
  const results: unknown[] = [];
  const errors: StandardError[] = [];
  for (const p of planned) {
    if (p.error) errors.push(p.error);
    else {
      const record = env.store.create(env.type, p.properties, env.now);
      results.push(toResult(record, p.trace ? { objectWriteTraceId: p.trace } : {}));
    }
  }
  return finish(env, 201, results, errors);
}

export function archive(env: BatchEnv, body: unknown): Reply {
  const inputs = checkInputs(body);
  if (!Array.isArray(inputs)) return inputs;
  // Unknown ids are ignored: archiving is idempotent, and HubSpot answers 204 either way.
  for (const input of inputs) env.store.archive(env.type, String(input.id));
  return { status: 204 };
}

export function read(env: BatchEnv, body: unknown): Reply {
  const inputs = checkInputs(body);
  if (!Array.isArray(inputs)) return inputs;
  const request = body as { idProperty?: unknown; properties?: unknown };
  const idProperty = typeof request.idProperty === 'string' ? request.idProperty : 'hs_object_id';
  if (idProperty !== 'hs_object_id' && !isUniqueProperty(env.type, idProperty)) {
    return requestError(400, 'VALIDATION_ERROR', `${idProperty} is not a unique property`);
  }
  const wanted = Array.isArray(request.properties) ? request.properties.map(String) : [];
  const only = ['hs_object_id', 'createdate', 'lastmodifieddate', ...wanted];
  const results: unknown[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    const record = env.store.findBy(env.type, idProperty, String(input.id));
    if (record) results.push(toResult(record, {}, only));
    else missing.push(String(input.id));
  }
  const errors =
    missing.length > 0
      ? [
          recordError('OBJECT_NOT_FOUND', 'Could not get some objects, they may be deleted or not exist.', {
            ids: missing,
          }),
        ]
      : [];
  return finish(env, 200, results, errors);
}
