import { z } from 'zod';
import { endpointUrlSchema, headerNameSchema, headersSchema, limitsSchema } from '../shared/http-config.ts';
import { fieldTemplateSchema } from '../shared/template.ts';

/**
 * A batch HTTP destination: any API that takes an array of records in one request (Segment's
 * `/v1/batch`, Braze `/users/track`, an internal service).
 *
 * Each record is `{ [record.keyField]: <model key>, [record.operationField]: "upsert"|"delete"|…,
 * ...fields }` (or the fields under `record.wrap`). The request body is `{ [body.recordsKey]: [...] }`
 * plus `body.static`, or, with `body: "array"`, the bare array.
 *
 * `results` says where the answer lists per-record outcomes. They are matched to records by
 * `results.keyField`, never by position. Without `results`, a 2xx accepts the whole batch.
 */

export const httpResultsSchema = z
  .object({
    /** Dotted path to the results array in the response (e.g. `results`, `data.items`); `` for the body. */
    path: z.string().default('results'),
    /** The property of each result that holds the record's key, as sent in `record.keyField`. */
    keyField: z.string().min(1),
    /** The property telling success; without it a result succeeds unless `errorField` is set. */
    statusField: z.string().min(1).optional(),
    successValues: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .default([
        'ok',
        'success',
        'succeeded',
        'accepted',
        'created',
        'updated',
        'deleted',
        true,
        200,
        201,
        202,
        204,
      ]),
    /** The property holding the destination's error message, kept as the record's reason. */
    errorField: z.string().min(1).optional(),
    /** The property holding the destination's own record id, if it returns one. */
    idField: z.string().min(1).optional(),
  })
  .strict();

export const httpConfigSchema = z
  .object({
    url: endpointUrlSchema,
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: headersSchema.default({}),
    secretHeaders: headersSchema.default({}),
    /** The auth header's value, e.g. `Bearer …` or `Basic …`; a secret field. */
    authorization: z
      .string()
      .min(1)
      .refine((v) => !/[\r\n\0]/.test(v), { message: 'must not contain line breaks' })
      .optional(),
    authorizationHeader: headerNameSchema.default('authorization'),
    body: z
      .union([
        z.literal('array'),
        z
          .object({ recordsKey: z.string().min(1), static: z.record(z.string().min(1), z.json()).optional() })
          .strict(),
      ])
      .default({ recordsKey: 'records' }),
    record: z
      .object({
        keyField: z.string().min(1).default('id'),
        operationField: z.string().min(1).nullable().default('operation'),
        wrap: z.string().min(1).nullable().default(null),
        fields: fieldTemplateSchema.optional(),
      })
      .strict()
      .default({ keyField: 'id', operationField: 'operation', wrap: null }),
    results: httpResultsSchema.optional(),
    maxBatchRecords: z.number().int().min(1).max(10_000).default(100),
    /** Segment caps a batch at 500 KB and Braze bulk at 2 MB; 1 MiB is a safe middle. */
    maxBatchBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    timeoutMs: z.number().int().min(100).max(300_000).default(30_000),
    limits: limitsSchema.optional(),
  })
  .strict();

export type HttpConfig = z.infer<typeof httpConfigSchema>;
export type HttpResultsConfig = z.infer<typeof httpResultsSchema>;

export const httpSecretFields = ['authorization', 'secretHeaders'] as const;
