import { z } from '@hono/zod-openapi';

/**
 * Building blocks shared by every resource's schemas. Strings refuse NUL characters and lone UTF-16
 * surrogates because Postgres cannot store them in text or jsonb; without this a stray `\u0000` or
 * `\ud800` would surface as a 500.
 */

const storable = (value: string) => !value.includes('\u0000') && value.isWellFormed();
const notStorable = 'must be valid Unicode without NUL characters';

export const text = (max: number) => z.string().max(max).refine(storable, { message: notStorable });

export const nameField = text(200)
  .min(1)
  .refine((v) => v.trim() === v && v.length > 0, { message: 'must not start or end with spaces' })
  .openapi({ example: 'Customers to HubSpot' });

/** A JSON object whose strings hold no NUL characters, at any depth (configs are stored as jsonb). */
export const jsonObject = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const stack: { value: unknown; path: (string | number)[]; depth: number }[] = [
      { value, path: [], depth: 0 },
    ];
    while (stack.length > 0) {
      const item = stack.pop();
      if (!item) break;
      if (item.depth > 32) {
        ctx.addIssue({ code: 'custom', path: item.path, message: 'is nested more than 32 levels deep' });
        return;
      }
      if (typeof item.value === 'string' && !storable(item.value)) {
        ctx.addIssue({ code: 'custom', path: item.path, message: notStorable });
        return;
      }
      if (item.value && typeof item.value === 'object') {
        for (const [key, child] of Object.entries(item.value)) {
          if (!storable(key)) {
            ctx.addIssue({ code: 'custom', path: item.path, message: `keys ${notStorable}` });
            return;
          }
          stack.push({ value: child, path: [...item.path, key], depth: item.depth + 1 });
        }
      }
    }
  })
  .openapi({ type: 'object', additionalProperties: true });

export const idParams = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'syn_abc' }),
});

export const timestamp = z.string().openapi({ format: 'date-time', example: '2026-01-01T00:00:00.000Z' });

export const limitQuery = (max: number, fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(max)
    .default(fallback)
    .openapi({ param: { name: 'limit', in: 'query' }, example: fallback });

export const cursorQuery = text(200)
  .optional()
  .openapi({ param: { name: 'cursor', in: 'query' }, description: 'nextCursor from the previous page' });

export const page = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({
      data: z.array(item),
      nextCursor: z.string().nullable().openapi({ description: 'null on the last page' }),
    })
    .openapi(name);

export const list = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ data: z.array(item) }).openapi(name);

export const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

export const jsonBody = <T extends z.ZodType>(schema: T, description: string) => ({
  required: true,
  description,
  content: { 'application/json': { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const security = [{ bearer: [] }];
