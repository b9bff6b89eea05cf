import type http from 'node:http';
import { type HandlerResult, isObject, type RequestHandler } from './server.ts';

/**
 * A generic batch API for the batch HTTP connector: it takes an array of records (bare or under a
 * key), applies upserts and deletes by key, and answers one result per record, in reverse order, so a
 * client that matches by position fails. Knobs: records that fail individually, records that make the
 * whole batch invalid (400, the way Segment refuses an oversized event), and a required auth header.
 * The options are read on every request, so a test can change them between runs.
 */
export interface BatchApiOptions {
  /** Where the records are in the request body; null for a bare array. */
  recordsKey?: string | null;
  keyField?: string;
  /** Keys answered with `{ status: 'error', error: <message> }`. */
  failKeys?: Record<string, string>;
  /** Keys that make the whole request a 400. */
  invalidKeys?: string[];
  /** Where the results go in the answer; null answers a bare array; undefined answers no results. */
  resultsKey?: string | null;
  requireAuthorization?: string;
}

export function createBatchApiHandler(options: BatchApiOptions = {}): RequestHandler {
  const recordsKey = options.recordsKey === undefined ? 'records' : options.recordsKey;
  const keyField = options.keyField ?? 'id';
  const records = (json: unknown): Record<string, unknown>[] => {
    const list = recordsKey === null ? json : isObject(json) ? json[recordsKey] : undefined;
    return Array.isArray(list) ? list.filter(isObject) : [];
  };
  const keyOf = (record: Record<string, unknown>) => String(record[keyField]);
  return {
    keysOf: (json) => records(json).map(keyOf),
    apply(json, state, headers: http.IncomingHttpHeaders): HandlerResult {
      if (options.requireAuthorization && headers.authorization !== options.requireAuthorization) {
        return { status: 401, body: '{"error":"invalid api key"}' };
      }
      const batch = records(json);
      if (batch.length === 0) return { status: 400, body: '{"error":"no records"}' };
      const invalid = batch.map(keyOf).filter((k) => options.invalidKeys?.includes(k));
      if (invalid.length > 0)
        return { status: 400, body: JSON.stringify({ error: `invalid records: ${invalid.join(', ')}` }) };
      const results = batch.map((record) => {
        const key = keyOf(record);
        const failure = options.failKeys?.[key];
        if (failure) return { [keyField]: record[keyField], status: 'error', error: failure };
        const { [keyField]: _key, operation, ...fields } = record;
        if (operation === 'delete') state.delete(key);
        else state.set(key, fields);
        return { [keyField]: record[keyField], status: 'ok', recordId: `rec_${key}` };
      });
      results.reverse();
      const body =
        options.resultsKey === undefined
          ? { ok: true }
          : options.resultsKey === null
            ? results
            : { [options.resultsKey]: results };
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    },
  };
}
