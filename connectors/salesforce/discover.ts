import type { FieldInfo, ObjectInfo } from '../types.ts';
import type { SalesforceSession } from './session.ts';

/** Describes run a few at a time: one org can have hundreds of objects, each one API call. */
const describeConcurrency = 4;

/**
 * Objects a sync can write (createable or updateable, not hidden), each with its fields. A field
 * can identify records for upsert when it is an external id (or `Id` itself).
 */
export async function describeObjects(
  session: SalesforceSession,
  signal: AbortSignal,
): Promise<ObjectInfo[]> {
  const { conn } = session;
  const global = await session.call(signal, () => conn.describeGlobal());
  session.noteRestCall();
  const writable = global.sobjects.filter(
    (o) => (o.createable || o.updateable) && !o.deprecatedAndHidden && !o.customSetting,
  );
  const result: ObjectInfo[] = new Array(writable.length);
  let next = 0;
  const worker = async () => {
    while (next < writable.length) {
      const index = next++;
      const sobject = writable[index];
      if (!sobject) continue;
      const described = await session.call(signal, () => conn.describe(sobject.name));
      session.noteRestCall();
      const fields: FieldInfo[] = described.fields.map((f) => ({
        name: f.name,
        label: f.label,
        type: f.type,
        required: !f.nillable && f.createable && !f.defaultedOnCreate,
        unique: f.externalId || f.name === 'Id',
      }));
      result[index] = { name: sobject.name, label: sobject.label, fields };
    }
  };
  await Promise.all(Array.from({ length: Math.min(describeConcurrency, writable.length) }, worker));
  return result;
}
