import { z } from '@hono/zod-openapi';
import { jsonObject, nameField, text, timestamp } from './common.ts';

/** Sources, models and destinations: the configuration a sync is built from. */

export const kindField = text(64).min(1).openapi({ example: 'postgres' });

export const sourceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.string(),
    config: z.record(z.string(), z.unknown()).openapi({ description: 'secret fields show as "[redacted]"' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('Source');

export const createSourceSchema = z
  .strictObject({ name: nameField, kind: kindField, config: jsonObject })
  .openapi('CreateSource');

export const updateSourceSchema = z
  .strictObject({
    name: nameField.optional(),
    config: jsonObject.optional().openapi({
      description: 'merged over the stored config; null removes a field; "[redacted]" keeps a secret',
    }),
  })
  .openapi('UpdateSource');

export const destinationSchema = sourceSchema.openapi('Destination');
export const createDestinationSchema = z
  .strictObject({ name: nameField, kind: kindField, config: jsonObject })
  .openapi('CreateDestination');
export const updateDestinationSchema = updateSourceSchema.openapi('UpdateDestination');

export const connectionTestSchema = z
  .object({ ok: z.literal(true), message: z.string().optional() })
  .openapi('ConnectionTest');

export const sqlField = text(100_000).min(1).openapi({ example: 'select id, email from customers' });
export const columnName = text(300).min(1);

export const modelSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    sourceId: z.string(),
    sql: z.string(),
    primaryKey: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi('Model');

export const createModelSchema = z
  .strictObject({ name: nameField, sourceId: text(100).min(1), sql: sqlField, primaryKey: columnName })
  .openapi('CreateModel');

export const updateModelSchema = z
  .strictObject({
    name: nameField.optional(),
    sourceId: text(100).min(1).optional(),
    sql: sqlField.optional(),
    primaryKey: columnName.optional(),
  })
  .openapi('UpdateModel');

export const columnSchema = z.object({ name: z.string(), type: z.string() }).openapi('Column');

export const previewSchema = z
  .object({
    columns: z.array(columnSchema),
    rows: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi('ModelPreview');

export const fieldInfoSchema = z
  .object({
    name: z.string(),
    label: z.string().optional(),
    type: z.string(),
    required: z.boolean().optional(),
    unique: z.boolean().optional(),
  })
  .openapi('DestinationField');

export const objectsSchema = z
  .object({
    data: z.array(
      z.object({
        name: z.string(),
        label: z.string().optional(),
        fields: z.array(fieldInfoSchema).optional(),
      }),
    ),
  })
  .openapi('DestinationObjects');
