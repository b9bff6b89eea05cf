import { z } from '@hono/zod-openapi';
import { apiKeyRoles } from '../../db/schema/index.ts';
import { nameField, timestamp } from './common.ts';

export const createApiKeySchema = z
  .strictObject({
    name: nameField.openapi({ example: 'dbt Cloud' }),
    role: z.enum(apiKeyRoles).openapi({
      description: 'admin: everything; editor: configuration and runs; viewer: read only',
    }),
  })
  .openapi('CreateApiKey');

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(apiKeyRoles),
    prefix: z.string().openapi({ description: 'the first characters of the secret, to tell keys apart' }),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
  })
  .openapi('ApiKey');

export const createdApiKeySchema = apiKeySchema
  .extend({ secret: z.string().openapi({ description: 'shown only in this response; store it now' }) })
  .openapi('CreatedApiKey');
