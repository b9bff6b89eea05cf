import type { Org, SaveResult, SObjectRecord } from './org.ts';
import { runSoql } from './soql.ts';

/** REST resources under /services/data/vNN.N: limits, describes, SOQL and sObject Collections. */

export interface Reply {
  status: number;
  body?: unknown;
  type?: string;
}

export interface RestContext {
  org: Org;
  /** A transient per-record failure to inject instead of applying the record, or null. */
  recordFault: () => SaveResult | null;
  usage: () => { used: number; limit: number };
}

export const notFound: Reply = {
  status: 404,
  body: [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }],
};

export function handleRest(ctx: RestContext, method: string, path: string, u: URL, body: unknown): Reply {
  const { org } = ctx;
  if (path === '/limits' && method === 'GET') {
    const { used, limit } = ctx.usage();
    return { status: 200, body: { DailyApiRequests: { Max: limit, Remaining: Math.max(0, limit - used) } } };
  }
  if (path === '/sobjects' && method === 'GET') {
    const sobjects = [...org.objects.values()].map((o) => ({
      name: o.name,
      label: o.name,
      createable: true,
      updateable: true,
      queryable: true,
      deletable: true,
      custom: o.name.endsWith('__c'),
      customSetting: false,
      deprecatedAndHidden: false,
      keyPrefix: o.prefix,
    }));
    return { status: 200, body: { encoding: 'UTF-8', maxBatchSize: 200, sobjects } };
  }
  const describe = /^\/sobjects\/(\w+)\/describe$/.exec(path);
  if (describe && method === 'GET') {
    const def = org.objects.get(describe[1] ?? '');
    if (!def) return notFound;
    const fields = def.fields.map((f) => ({
      name: f.name,
      label: f.name.replace(/__c$/, '').replace(/_/g, ' '),
      type: f.type,
      nillable: !f.required && f.type !== 'id',
      createable: f.type !== 'id',
      updateable: f.type !== 'id',
      defaultedOnCreate: f.type === 'id' || f.type === 'boolean',
      externalId: f.externalId ?? false,
      unique: f.externalId ?? false,
      idLookup: f.type === 'id' || (f.externalId ?? false),
    }));
    return { status: 200, body: { name: def.name, label: def.name, keyPrefix: def.prefix, fields } };
  }
  if (path === '/query' && method === 'GET') return runSoql(org, u.searchParams.get('q') ?? '');
  const collection = /^\/composite\/sobjects(?:\/(\w+)\/(\w+))?$/.exec(path);
  if (collection) return handleCollection(ctx, method, collection[1], collection[2], u, body);
  return notFound;
}

function handleCollection(
  ctx: RestContext,
  method: string,
  type: string | undefined,
  extField: string | undefined,
  u: URL,
  body: unknown,
): Reply {
  const { org } = ctx;
  if (method === 'DELETE') {
    const ids = (u.searchParams.get('ids') ?? '').split(',').filter(Boolean);
    if (ids.length > 200) return tooMany();
    return {
      status: 200,
      body: dml(ctx, u.searchParams.get('allOrNone') === 'true', ids, (id) => org.delete(null, id)),
    };
  }
  const payload = body as { allOrNone?: boolean; records?: Record<string, unknown>[] } | null;
  if (!payload || !Array.isArray(payload.records)) {
    return { status: 400, body: [{ errorCode: 'JSON_PARSER_ERROR', message: 'records is required' }] };
  }
  if (payload.records.length > 200) return tooMany();
  // A type or field the org does not have fails the whole request, as in Salesforce.
  for (const r of payload.records) {
    const t = type ?? (r.attributes as { type?: string } | undefined)?.type ?? '';
    if (!org.objects.has(t)) {
      return {
        status: 400,
        body: [{ errorCode: 'INVALID_TYPE', message: `sObject type '${t}' is not supported.` }],
      };
    }
    const unknown = org.unknownField(t, r);
    if (unknown) {
      const message = `No such column '${unknown}' on sobject of type ${t}`;
      return { status: 400, body: [{ errorCode: 'INVALID_FIELD', message }] };
    }
  }
  const fieldsOf = (r: Record<string, unknown>) => {
    const { attributes, id, Id, ...rest } = r;
    return rest as SObjectRecord;
  };
  const typeOf = (r: Record<string, unknown>) => type ?? (r.attributes as { type: string }).type;
  const apply = (r: Record<string, unknown>): SaveResult => {
    if (method === 'POST' && !type) return org.create(typeOf(r), fieldsOf(r));
    if (method === 'PATCH' && !type) return org.update(typeOf(r), String(r.id ?? ''), fieldsOf(r));
    if (method === 'PATCH' && type && extField) return org.upsert(type, extField, fieldsOf(r));
    return { success: false, errors: [{ statusCode: 'METHOD_NOT_ALLOWED', message: method, fields: [] }] };
  };
  return { status: 200, body: dml(ctx, payload.allOrNone === true, payload.records, apply) };
}

const rolledBack = {
  statusCode: 'ALL_OR_NONE_OPERATION_ROLLED_BACK',
  message: 'Record rolled back because not all records were valid and the request was using AllOrNone header',
  fields: [],
};

/** One result per input, in input order; allOrNone rolls every change back if any record fails. */
function dml<T>(
  ctx: RestContext,
  allOrNone: boolean,
  inputs: T[],
  apply: (input: T) => SaveResult,
): SaveResult[] {
  const saved = allOrNone ? ctx.org.snapshot() : null;
  const results = inputs.map((input) => ctx.recordFault() ?? apply(input));
  if (saved && results.some((r) => !r.success)) {
    ctx.org.restore(saved);
    return results.map((r) => (r.success ? { success: false, errors: [rolledBack] } : r));
  }
  return results;
}

function tooMany(): Reply {
  const message = 'record limit reached. cannot submit more than 200 records into this call';
  return { status: 400, body: [{ errorCode: 'EXCEEDED_ID_LIMIT', message }] };
}
