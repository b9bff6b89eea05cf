import { orm, pgCore } from '../drizzle.ts';
import { createdAt, ts, updatedAt } from './common.ts';

const { sql } = orm;
const { boolean, check, integer, jsonb, pgTable, real, text } = pgCore;

/**
 * Configuration objects: where data comes from (sources, models), where it goes (destinations) and how
 * (syncs). Secrets never sit in `config`: they live in `secrets`, an AES-256-GCM envelope.
 */

export const sources = pgTable('sources', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  kind: text('kind').notNull(),
  config: jsonb('config').$type<Record<string, unknown>>().notNull(),
  secrets: text('secrets'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const models = pgTable('models', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  sourceId: text('source_id')
    .notNull()
    .references(() => sources.id, { onDelete: 'restrict' }),
  sql: text('sql').notNull(),
  primaryKey: text('primary_key').notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const destinations = pgTable('destinations', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  kind: text('kind').notNull(),
  config: jsonb('config').$type<Record<string, unknown>>().notNull(),
  secrets: text('secrets'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const syncModes = ['upsert', 'update', 'insert', 'mirror'] as const;
export type SyncMode = (typeof syncModes)[number];

/** A model column mapped onto a destination field. */
export interface FieldMapping {
  from: string;
  to: string;
  /** Leave the destination value alone when the model value is null. */
  skipNull?: boolean;
}

/** Which model column identifies the destination record, and under which destination field. */
export interface IdentifierMapping {
  from: string;
  to: string;
}

export type Schedule =
  | { type: 'manual' }
  | { type: 'interval'; everySeconds: number }
  | { type: 'cron'; expression: string; timezone: string };

export const syncs = pgTable(
  'syncs',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull().unique(),
    modelId: text('model_id')
      .notNull()
      .references(() => models.id, { onDelete: 'restrict' }),
    destinationId: text('destination_id')
      .notNull()
      .references(() => destinations.id, { onDelete: 'restrict' }),
    object: text('object').notNull(),
    mode: text('mode').$type<SyncMode>().notNull(),
    identifier: jsonb('identifier').$type<IdentifierMapping | null>(),
    mappings: jsonb('mappings').$type<FieldMapping[]>().notNull(),
    schedule: jsonb('schedule').$type<Schedule>().notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Mass-delete guard: a mirror run stops when it would remove more than this share of records… */
    massDeleteMaxShare: real('mass_delete_max_share').notNull().default(0.2),
    /** …and more than this many records. */
    massDeleteMinCount: integer('mass_delete_min_count').notNull().default(100),
    /** Set when the destination told Ebb to stop delivering (e.g. a webhook answered 410 Gone). */
    pausedReason: text('paused_reason'),
    /** The next time the scheduler should enqueue a run; null for manual schedules. */
    nextRunAt: ts('next_run_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check(
      'syncs_mass_delete_share_range',
      sql`${t.massDeleteMaxShare} >= 0 AND ${t.massDeleteMaxShare} <= 1`,
    ),
  ],
);
