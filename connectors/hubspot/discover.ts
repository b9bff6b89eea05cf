import type { Logger } from '../../src/logger.ts';
import type { FieldInfo, ObjectInfo, TestResult } from '../types.ts';
import { classifyError } from './classify-error.ts';
import type { HubspotApis } from './sdk.ts';

/** Standard CRM objects with fixed names; custom objects come from the schemas API. */
const standardObjects = [
  { name: 'contacts', label: 'Contacts' },
  { name: 'companies', label: 'Companies' },
  { name: 'deals', label: 'Deals' },
  { name: 'tickets', label: 'Tickets' },
] as const;

interface PropertyLike {
  name: string;
  label?: string;
  type: string;
  hasUniqueValue?: boolean;
  calculated?: boolean;
  modificationMetadata?: { readOnlyValue?: boolean };
}

/**
 * Writable properties only: calculated and read-only ones cannot be a sync's target. HubSpot's own
 * contact `email` is the upsert key of contacts although the API does not flag it unique.
 */
export function toFields(object: string, properties: readonly PropertyLike[]): FieldInfo[] {
  return properties
    .filter((p) => !p.calculated && !p.modificationMetadata?.readOnlyValue)
    .map((p) => ({
      name: p.name,
      label: p.label,
      type: p.type,
      unique: p.hasUniqueValue === true || (object === 'contacts' && p.name === 'email'),
    }));
}

/** A cheap authenticated call: one contact, no properties. */
export async function testConnection(apis: HubspotApis): Promise<TestResult> {
  try {
    await apis.objects.getPage('contacts', 1);
    return { ok: true, message: 'HubSpot accepted the access token.' };
  } catch (error) {
    return { ok: false, message: classifyError(error).reason };
  }
}

export async function listObjects(apis: HubspotApis, logger: Logger): Promise<ObjectInfo[]> {
  const objects: ObjectInfo[] = [];
  for (const object of standardObjects) {
    try {
      const { results } = await apis.properties.getAll(object.name);
      objects.push({ ...object, fields: toFields(object.name, results) });
    } catch (error) {
      const failure = classifyError(error);
      // A private app sees only the objects it has scopes for; the others are left out, not fatal.
      if (failure.kind !== 'fatal' || !failure.reason.startsWith('HubSpot 403')) {
        throw new Error(`listing HubSpot ${object.name} properties failed: ${failure.reason}`, {
          cause: error,
        });
      }
      logger.info({ object: object.name, reason: failure.reason }, 'HubSpot object not accessible');
    }
  }
  try {
    const { results } = await apis.schemas.getAll();
    for (const schema of results) {
      objects.push({
        name: schema.objectTypeId ?? schema.fullyQualifiedName ?? schema.name,
        label: schema.labels.plural ?? schema.name,
        fields: toFields(schema.name, schema.properties),
      });
    }
  } catch (error) {
    // Custom objects need the schemas scope (and an Enterprise account); without it the standard
    // objects are still a complete answer.
    logger.info({ reason: classifyError(error).reason }, 'HubSpot custom object schemas not listed');
  }
  return objects;
}
