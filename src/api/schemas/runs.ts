import { z } from '@hono/zod-openapi';
import { recordOperations, recordStatuses, runStatuses, runTriggers } from '../../db/schema/index.ts';
import { timestamp } from './common.ts';

export const startRunSchema = z
  .strictObject({
    fullResync: z.boolean().optional().openapi({ description: 'resend every row, deleting nothing' }),
    dryRun: z.boolean().optional().openapi({ description: 'plan only: counts and a sample, nothing sent' }),
    allowMassDelete: z
      .boolean()
      .optional()
      .openapi({ description: 'let this run pass the mass-delete guard' }),
  })
  .openapi('StartRun');

export const runSchema = z
  .object({
    id: z.string(),
    syncId: z.string(),
    status: z.enum(runStatuses),
    trigger: z.enum(runTriggers),
    fullResync: z.boolean(),
    dryRun: z.boolean(),
    allowMassDelete: z.boolean(),
    phase: z.string(),
    attempt: z.number(),
    cancelRequested: z.boolean(),
    counts: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "the engine's counts as it goes" }),
    outcomes: z.record(z.enum(recordStatuses), z.number()).openapi({
      description: 'records of this run by outcome: pending, accepted, rejected, invalid, cancelled',
    }),
    timings: z.record(z.string(), z.number()).nullable().openapi({ description: 'milliseconds per phase' }),
    plan: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'dry runs: a sample of each change' }),
    error: z.object({ code: z.string().nullable(), message: z.string() }).nullable(),
    scheduledFor: timestamp.nullable(),
    createdAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    durationMs: z.number().nullable(),
  })
  .openapi('Run');

export const runRecordSchema = z
  .object({
    id: z.string(),
    primaryKey: z.string().nullable(),
    operation: z.enum(recordOperations).nullable(),
    status: z.enum(recordStatuses),
    reason: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()).nullable(),
    identifier: z.string().nullable(),
    destinationRecordId: z.string().nullable(),
    attempts: z.number(),
  })
  .openapi('RunRecord');

export const cancelResultSchema = z
  .object({
    id: z.string(),
    status: z.enum(['cancelled', 'cancelling']).openapi({
      description:
        'cancelled: it had not started; cancelling: a worker ends it (after the batch in flight, or as it picks up a run that was handed back) and marks its unsent records cancelled',
    }),
  })
  .openapi('CancelResult');

export const resetResultSchema = z
  .object({ syncId: z.string(), forgotten: z.number().openapi({ description: 'snapshot rows forgotten' }) })
  .openapi('ResetResult');
