import { z } from 'zod';
import type {
  BatchFailure,
  Connector,
  Json,
  PlannedChange,
  RecordOutcome,
  WriteContext,
  WriteResult,
} from '../../connectors/types.ts';

/** One record as the in-memory destination holds it. */
export interface MemoryRecord {
  id: string;
  fields: Record<string, Json>;
}

/** Knobs a test turns to make the destination misbehave in a controlled way. */
export interface MemoryKnobs {
  /** Keys (identifier, else primary key) whose records are rejected with a reason. */
  rejectKeys: Set<string>;
  /** Any batch holding one of these keys is refused whole (`split`), as a 400 for one bad input would. */
  poisonKeys: Set<string>;
  /** The next writes fail whole with these failures, one per write, before touching anything. */
  failNext: BatchFailure[];
  /** Write number (1-based, counting every call) → a whole-batch failure for that write. */
  failAt: Map<number, BatchFailure>;
  /** The next writes apply the batch and then throw, as if the engine crashed before recording. */
  crashAfterApply: number;
  /** Write numbers (1-based) that apply the batch and then throw. */
  crashAtWrite: Set<number>;
  /** Keys the destination applies but leaves out of its answer (a connector bug). */
  omitKeys: Set<string>;
  /** Keys the destination answers for although it was not sent them (another connector bug). */
  strayKeys: string[];
  /** Called when a crash-after-apply fires (e.g. to abort the worker, standing in for kill -9). */
  onCrash?: () => void;
  /** Per key: answer `retryable` this many more times before accepting. */
  retryableKeys: Map<string, { times: number; waitMs?: number }>;
  latencyMs: number;
  /** Sees every batch as the engine hands it over, with its write number (1-based). */
  observe?: (batch: PlannedChange[], writeNumber: number) => void;
}

export interface MemoryDestination {
  connector: Connector;
  records: Map<string, MemoryRecord>;
  /** How many times each key was created (a second create for one key is a duplicate). */
  creates: Map<string, number>;
  /** Every write call, with the keys it carried and the run that sent it. */
  writes: { keys: string[]; runId: string }[];
  /** Set when writes of two different runs of one sync were ever in flight at the same moment. */
  overlaps: string[];
  knobs: MemoryKnobs;
  /** Writes in flight right now, and the most ever seen at once. */
  inFlight: { now: number; max: number };
}

export interface MemoryOptions {
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  maxConcurrent?: number;
  requestsPerInterval?: number;
  intervalMs?: number;
  credentialKey?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An in-process destination (kind `memory`) for engine tests: it keeps records in a Map keyed by the
 * destination identifier (or the primary key), counts creates per key, and can reject, refuse, throttle
 * or "crash" on demand.
 */
export function createMemoryDestination(options: MemoryOptions = {}): MemoryDestination {
  const records = new Map<string, MemoryRecord>();
  const creates = new Map<string, number>();
  const writes: { keys: string[]; runId: string }[] = [];
  const overlaps: string[] = [];
  const activeRuns = new Map<string, Map<string, number>>();
  const inFlight = { now: 0, max: 0 };
  const knobs: MemoryKnobs = {
    rejectKeys: new Set(),
    poisonKeys: new Set(),
    failNext: [],
    failAt: new Map(),
    crashAfterApply: 0,
    crashAtWrite: new Set(),
    omitKeys: new Set(),
    strayKeys: [],
    retryableKeys: new Map(),
    latencyMs: 0,
  };
  let nextId = 1;
  const keyOf = (change: PlannedChange) => change.identifier ?? change.key;

  const apply = (change: PlannedChange): RecordOutcome => {
    const key = keyOf(change);
    if (knobs.rejectKeys.has(key)) return { key: change.key, status: 'rejected', reason: `rejected ${key}` };
    const retry = knobs.retryableKeys.get(key);
    if (retry && retry.times > 0) {
      retry.times -= 1;
      return { key: change.key, status: 'retryable', reason: `busy ${key}`, waitMs: retry.waitMs };
    }
    const existing = records.get(key);
    if (change.operation === 'delete') {
      records.delete(key);
      return { key: change.key, status: 'accepted', destinationRecordId: existing?.id ?? null };
    }
    if (change.operation === 'update' && !existing) {
      return { key: change.key, status: 'rejected', reason: 'not found' };
    }
    if (existing && change.operation !== 'insert') {
      existing.fields = { ...existing.fields, ...change.fields };
      return { key: change.key, status: 'accepted', destinationRecordId: existing.id };
    }
    // Plain creates are not idempotent: an insert of an existing key makes a second record.
    const id = `mem-${nextId++}`;
    records.set(key, { id, fields: { ...change.fields } });
    creates.set(key, (creates.get(key) ?? 0) + 1);
    return { key: change.key, status: 'accepted', destinationRecordId: id };
  };

  const write = async (batch: PlannedChange[], context: WriteContext): Promise<WriteResult> => {
    inFlight.now += 1;
    inFlight.max = Math.max(inFlight.max, inFlight.now);
    const runs = activeRuns.get(context.syncId) ?? new Map<string, number>();
    activeRuns.set(context.syncId, runs);
    runs.set(context.runId, (runs.get(context.runId) ?? 0) + 1);
    if (runs.size > 1) overlaps.push(`${context.syncId}: ${[...runs.keys()].join(', ')}`);
    try {
      writes.push({ keys: batch.map(keyOf), runId: context.runId });
      const writeNumber = writes.length;
      knobs.observe?.(batch, writeNumber);
      if (knobs.latencyMs > 0) await sleep(knobs.latencyMs);
      const failure = knobs.failNext.shift() ?? knobs.failAt.get(writeNumber);
      if (failure) return { ok: false, failure };
      if (batch.some((c) => knobs.poisonKeys.has(keyOf(c)))) {
        return { ok: false, failure: { kind: 'split', reason: 'batch refused: invalid input' } };
      }
      const outcomes = batch.map(apply);
      if (knobs.crashAfterApply > 0 || knobs.crashAtWrite.has(writeNumber)) {
        knobs.crashAfterApply = Math.max(0, knobs.crashAfterApply - 1);
        knobs.onCrash?.();
        throw new Error('simulated crash after the destination applied the batch');
      }
      const answered = outcomes.filter((_o, i) => {
        const change = batch[i];
        return !change || !knobs.omitKeys.has(keyOf(change));
      });
      const stray = knobs.strayKeys.map((key): RecordOutcome => ({ key, status: 'accepted' }));
      // Real APIs (HubSpot) shuffle results: reversing proves outcomes are matched by key.
      return { ok: true, outcomes: [...stray, ...answered.reverse()] };
    } finally {
      inFlight.now -= 1;
      const left = (runs.get(context.runId) ?? 1) - 1;
      if (left > 0) runs.set(context.runId, left);
      else runs.delete(context.runId);
    }
  };

  const memory: Connector<Record<string, unknown>> = {
    kind: 'memory',
    label: 'In-memory test destination',
    configSchema: z.object({}).passthrough(),
    secretFields: [],
    capabilities: () => ({
      modes: ['upsert', 'update', 'insert', 'mirror'],
      objects: 'any',
      identifier: 'optional',
      maxBatchRecords: options.maxBatchRecords ?? 10,
      maxBatchBytes: options.maxBatchBytes ?? 1024 * 1024,
    }),
    limits: () => ({
      requestsPerInterval: options.requestsPerInterval ?? 10_000,
      intervalMs: options.intervalMs ?? 1000,
      maxConcurrent: options.maxConcurrent ?? 2,
    }),
    credentialKey: () => options.credentialKey ?? 'memory',
    create: () => ({
      test: async () => ({ ok: true }),
      write: (batch, context) => write(batch, context),
    }),
  };
  // The config type is erased for the registry, as connectors/index.ts does for the shipped ones.
  const connector = memory as unknown as Connector;
  return { connector, records, creates, writes, overlaps, knobs, inFlight };
}
