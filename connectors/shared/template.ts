import { z } from 'zod';
import type { Json } from '../types.ts';

/**
 * Which mapped fields go into a payload and under which names. Declarative on purpose: a template is
 * data a user stores, so it can never run code.
 *
 * - `include`: keep only these fields (names as mapped, before renaming); default all.
 * - `exclude`: drop these fields.
 * - `rename`: `{ from: to }` applied after include/exclude.
 * - `static`: constant properties added to every payload (e.g. `{ "source": "ebb" }`).
 */
export const fieldTemplateSchema = z
  .object({
    include: z.array(z.string().min(1)).min(1).optional(),
    exclude: z.array(z.string().min(1)).optional(),
    rename: z.record(z.string().min(1), z.string().min(1)).optional(),
    static: z.record(z.string().min(1), z.json()).optional(),
  })
  .strict()
  .refine(
    (t) => {
      const targets = Object.values(t.rename ?? {});
      return new Set(targets).size === targets.length;
    },
    { message: 'rename maps two fields onto one name', path: ['rename'] },
  );

export type FieldTemplate = z.infer<typeof fieldTemplateSchema>;

/** The record's fields as the template shapes them. */
export function applyFieldTemplate(
  fields: Record<string, Json>,
  template: FieldTemplate,
): Record<string, Json> {
  const include = template.include ? new Set(template.include) : null;
  const exclude = new Set(template.exclude ?? []);
  const out: Record<string, Json> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (include && !include.has(name)) continue;
    if (exclude.has(name)) continue;
    out[template.rename?.[name] ?? name] = value;
  }
  return out;
}

export type PlaceResult = { ok: true; payload: Record<string, Json> } | { ok: false; reason: string };

/**
 * Merges shaped fields into an envelope. With `wrap` they sit under that key; without, beside the
 * envelope's own properties, and a field that would overwrite one of them is refused rather than
 * silently dropped.
 */
export function placeFields(
  envelope: Record<string, Json>,
  fields: Record<string, Json>,
  wrap: string | null,
  statics: Record<string, Json> | undefined,
): PlaceResult {
  const payload: Record<string, Json> = { ...envelope };
  for (const [name, value] of Object.entries(statics ?? {})) {
    if (name in payload) return { ok: false, reason: `static property "${name}" collides with the envelope` };
    payload[name] = value;
  }
  if (wrap !== null) {
    if (wrap in payload) return { ok: false, reason: `wrap key "${wrap}" collides with the envelope` };
    payload[wrap] = fields;
    return { ok: true, payload };
  }
  for (const [name, value] of Object.entries(fields)) {
    if (name in payload) {
      return {
        ok: false,
        reason: `field "${name}" collides with the payload's "${name}"; rename it in the template`,
      };
    }
    payload[name] = value;
  }
  return { ok: true, payload };
}
