import { z } from '@hono/zod-openapi';
import { syncModes } from '../../db/schema/index.ts';
import { cronProblem, MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS } from '../../scheduler/schedule.ts';
import { nameField, text, timestamp } from './common.ts';
import { columnName } from './config-objects.ts';

const fieldName = text(300).min(1);

export const identifierSchema = z
  .strictObject({
    from: columnName.openapi({ description: 'model column' }),
    to: fieldName.openapi({ description: 'destination field that identifies records, e.g. email' }),
  })
  .openapi('IdentifierMapping');

export const fieldMappingSchema = z
  .strictObject({
    from: columnName.openapi({ description: 'model column' }),
    to: fieldName.openapi({ description: 'destination field' }),
    skipNull: z.boolean().optional().openapi({ description: 'leave the destination value alone when null' }),
  })
  .openapi('FieldMapping');

export const scheduleSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('manual') }),
    z.strictObject({
      type: z.literal('interval'),
      everySeconds: z.number().int().min(MIN_INTERVAL_SECONDS).max(MAX_INTERVAL_SECONDS),
    }),
    z
      .strictObject({
        type: z.literal('cron'),
        expression: text(200).min(1).openapi({ example: '0 6 * * 1-5' }),
        timezone: text(100).min(1).openapi({ example: 'Europe/Paris' }),
      })
      .superRefine((value, ctx) => {
        const problem = cronProblem(value.expression, value.timezone);
        if (problem) {
          ctx.addIssue({
            code: 'custom',
            message: problem,
            path: [problem.includes('time zone') ? 'timezone' : 'expression'],
          });
        }
      }),
  ])
  .openapi('Schedule');

export const massDeleteSchema = z
  .strictObject({
    maxShare: z
      .number()
      .min(0)
      .max(1)
      .openapi({ description: 'largest share of synced records one run may remove' }),
    minCount: z
      .number()
      .int()
      .min(0)
      .max(2_147_483_647)
      .openapi({ description: 'removals below this never trip the guard' }),
  })
  .openapi('MassDeleteGuard');

const syncFields = {
  name: nameField,
  modelId: text(100).min(1),
  destinationId: text(100).min(1),
  object: text(300).min(1).openapi({ example: 'contacts' }),
  mode: z.enum(syncModes),
  identifier: identifierSchema.nullable().optional(),
  mappings: z.array(fieldMappingSchema).min(1).max(1000),
  schedule: scheduleSchema,
  enabled: z.boolean().optional(),
  massDelete: massDeleteSchema.optional(),
};

export const createSyncSchema = z.strictObject(syncFields).openapi('CreateSync');

export const updateSyncSchema = z
  .strictObject({
    name: syncFields.name.optional(),
    modelId: syncFields.modelId.optional(),
    destinationId: syncFields.destinationId.optional(),
    object: syncFields.object.optional(),
    mode: syncFields.mode.optional(),
    identifier: syncFields.identifier,
    mappings: syncFields.mappings.optional(),
    schedule: syncFields.schedule.optional(),
    enabled: syncFields.enabled,
    massDelete: syncFields.massDelete,
  })
  .openapi('UpdateSync');

export const syncSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    modelId: z.string(),
    destinationId: z.string(),
    object: z.string(),
    mode: z.enum(syncModes),
    identifier: z.object({ from: z.string(), to: z.string() }).nullable(),
    mappings: z.array(z.object({ from: z.string(), to: z.string(), skipNull: z.boolean().optional() })),
    schedule: scheduleSchema,
    enabled: z.boolean(),
    pausedReason: z
      .string()
      .nullable()
      .openapi({ description: 'why deliveries stopped; cleared on re-enable' }),
    massDelete: z.object({ maxShare: z.number(), minCount: z.number() }),
    nextRunAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('Sync');
