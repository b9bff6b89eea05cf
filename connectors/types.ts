import type { z } from 'zod';
import type { SyncMode } from '../src/db/schema/index.ts';
import type { Logger } from '../src/logger.ts';

export type { SyncMode } from '../src/db/schema/index.ts';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** What the engine asks a destination to do with one record. */
export type ChangeOperation = 'upsert' | 'update' | 'insert' | 'delete';

/**
 * One planned change, as the engine hands it to a connector. `key` is the model's primary key and is
 * how outcomes are matched back: by identifier, never by position (HubSpot shuffles its results).
 */
export interface PlannedChange {
  key: string;
  operation: ChangeOperation;
  /** Stable hash of (sync, primary key, fingerprint, operation): the webhook-id, the trace id. */
  idempotencyKey: string;
  /** The destination identifier's value (e.g. the email for a HubSpot upsert by email), if mapped. */
  identifier: string | null;
  /** The destination's own record id from an earlier accepted write, when known. */
  destinationRecordId: string | null;
  /** Mapped destination fields and their canonical values; empty for deletes. */
  fields: Record<string, Json>;
}

/** What happened to one record. Exactly one per input record, keyed by `PlannedChange.key`. */
export type RecordOutcome =
  | { key: string; status: 'accepted'; destinationRecordId?: string | null }
  | { key: string; status: 'rejected'; reason: string }
  | { key: string; status: 'retryable'; reason: string; waitMs?: number };

/**
 * A failure of a whole request, as a connector's pure `classifyError` sees it:
 * - `retry`: transient (429, 5xx, timeout, network); retry the batch after `waitMs` if given.
 * - `split`: the destination refused the batch whole (e.g. a 400 for one bad input); the engine splits
 *   it in halves until the bad records are isolated, and a batch of one becomes `rejected`.
 * - `quota`: a daily quota is spent; the run ends partial, the rest stays pending for a later run.
 * - `fatal`: nothing will succeed until a person acts (bad credentials, 410 Gone); the run fails and,
 *   with `pauseSync`, the sync's deliveries stop until it is re-enabled.
 */
export type BatchFailure =
  | { kind: 'retry'; reason: string; waitMs?: number }
  | { kind: 'split'; reason: string }
  | { kind: 'quota'; reason: string; resetAt?: Date }
  | { kind: 'fatal'; reason: string; pauseSync?: boolean };

export type WriteResult = { ok: true; outcomes: RecordOutcome[] } | { ok: false; failure: BatchFailure };

export interface WriteContext {
  syncId: string;
  runId: string;
  object: string;
  mode: SyncMode;
  /** The destination field that identifies records (e.g. `email`, `External_Id__c`), if any. */
  identifierField: string | null;
  signal: AbortSignal;
  logger: Logger;
}

export interface FieldInfo {
  name: string;
  label?: string;
  type: string;
  required?: boolean;
  /** Whether the field can serve as the upsert identifier (unique / external id). */
  unique?: boolean;
}

export interface ObjectInfo {
  name: string;
  label?: string;
  fields?: FieldInfo[];
}

export type TestResult = { ok: true; message?: string } | { ok: false; message: string };

/** A connected destination: made from a validated config, used by one run or one API call. */
export interface DestinationClient {
  test(signal: AbortSignal): Promise<TestResult>;
  /** Objects (and their fields) for a user setting up a sync, where the destination can list them. */
  listObjects?(signal: AbortSignal): Promise<ObjectInfo[]>;
  write(batch: PlannedChange[], context: WriteContext): Promise<WriteResult>;
  close?(): Promise<void>;
}

/** Request-rate limits, declared as data from the vendor's published numbers; overridable per destination. */
export interface RateLimits {
  /** Requests allowed per interval, shared by every sync and process using one credential. */
  requestsPerInterval: number;
  intervalMs: number;
  /** Requests in flight at once. */
  maxConcurrent: number;
}

export interface Capabilities {
  modes: readonly SyncMode[];
  /** `discover`: listObjects() names the objects; `any`: the object is a free-form label (webhooks). */
  objects: 'discover' | 'any';
  /** Whether a sync must map an identifier field, per mode. */
  identifier: 'required' | 'optional' | 'none';
  maxBatchRecords: number;
  maxBatchBytes: number;
}

export interface ConnectorDeps {
  logger: Logger;
  /** Whether private, loopback and link-local addresses may be called (SSRF guard). */
  allowPrivateNetwork: boolean;
}

/**
 * A destination kind. `configSchema` validates the whole configuration a user sends; the keys listed
 * in `secretFields` are split off, encrypted at rest and redacted in every response.
 */
export interface Connector<Config = unknown> {
  kind: string;
  label: string;
  configSchema: z.ZodType<Config>;
  secretFields: readonly string[];
  capabilities(config: Config): Capabilities;
  limits(config: Config): RateLimits;
  /** The limiter key: one per credential (account, token, endpoint), never per sync. */
  credentialKey(config: Config): string;
  create(config: Config, deps: ConnectorDeps): DestinationClient;
}
