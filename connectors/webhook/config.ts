import { z } from 'zod';
import { endpointUrlSchema, headersSchema, limitsSchema } from '../shared/http-config.ts';
import { fieldTemplateSchema } from '../shared/template.ts';
import { parseSigningSecret } from './sign.ts';

/**
 * A webhook destination. `secretHeaders` and `signingSecret` are secret fields: encrypted at rest and
 * redacted by the API; `headers` are shown as typed.
 *
 * Payload of one record (`batchSize` 1), with the default template:
 *   { "type": "ebb.record.upsert", "object": "<sync object>", "operation": "upsert", "key": "<pk>",
 *     "data": { ...mapped fields } }
 * Deletes have `operation: "delete"` and empty `data`. With `batchSize` above 1, one request carries
 *   { "type": "ebb.batch", "object": "…", "records": [ <one payload per record> ] }
 * `template.wrap` renames `data` (or, `null`, puts the fields beside the envelope properties).
 */
export const webhookTemplateSchema = z
  .object({
    wrap: z.string().min(1).nullable().default('data'),
    fields: fieldTemplateSchema.optional(),
  })
  .strict();

const signingSecretSchema = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1).max(5)])
  .transform((value) => (Array.isArray(value) ? value : value.split(/\s+/).filter((s) => s !== '')))
  .superRefine((secrets, ctx) => {
    for (const secret of secrets) {
      const parsed = parseSigningSecret(secret);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
    }
  });

export const webhookConfigSchema = z
  .object({
    url: endpointUrlSchema,
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: headersSchema.default({}),
    secretHeaders: headersSchema.default({}),
    /** One `whsec_` secret, or several (space-separated or a list) while rotating. */
    signingSecret: signingSecretSchema.optional(),
    /** Records per request: 1 sends one event per request, more sends a `records` array. */
    batchSize: z.number().int().min(1).max(1000).default(1),
    /** Standard Webhooks recommends 15 to 30 s; Svix uses 15 s. */
    timeoutMs: z.number().int().min(100).max(120_000).default(15_000),
    template: webhookTemplateSchema.default({ wrap: 'data' }),
    limits: limitsSchema.optional(),
  })
  .strict();

export type WebhookConfig = z.infer<typeof webhookConfigSchema>;
export type WebhookTemplate = z.infer<typeof webhookTemplateSchema>;

export const webhookSecretFields = ['secretHeaders', 'signingSecret'] as const;
