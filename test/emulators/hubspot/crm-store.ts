/**
 * The emulator's CRM state: object types with their property definitions, and records per type. Unique
 * properties (contact `email`, anything with `hasUniqueValue`) are indexed so upsert finds the record by
 * its idProperty and a second record can never take a unique value. Values are strings, as on the wire.
 */

export interface PropertyDefinition {
  name: string;
  label: string;
  type: 'string' | 'number' | 'date' | 'datetime' | 'enumeration' | 'bool';
  fieldType: string;
  hasUniqueValue: boolean;
  /** HubSpot-computed, e.g. `hs_object_id`; readable, not writable. */
  readOnly?: boolean;
}

export interface CrmRecord {
  id: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface ObjectTypeDefinition {
  name: string;
  /** `2-…` for custom objects, listed by the schemas API. */
  objectTypeId?: string;
  labels: { singular: string; plural: string };
  properties: PropertyDefinition[];
}

const text = (name: string, label: string, unique = false): PropertyDefinition => ({
  name,
  label,
  type: 'string',
  fieldType: 'text',
  hasUniqueValue: unique,
});

const systemProperties: PropertyDefinition[] = [
  { ...text('hs_object_id', 'Record ID'), type: 'number', fieldType: 'number', readOnly: true },
  { ...text('createdate', 'Create Date'), type: 'datetime', fieldType: 'date', readOnly: true },
  { ...text('lastmodifieddate', 'Last Modified Date'), type: 'datetime', fieldType: 'date', readOnly: true },
];

export const standardObjectTypes: ObjectTypeDefinition[] = [
  {
    name: 'contacts',
    labels: { singular: 'Contact', plural: 'Contacts' },
    // HubSpot enforces one contact per email but does not flag the property as unique.
    properties: [
      text('email', 'Email'),
      text('firstname', 'First Name'),
      text('lastname', 'Last Name'),
      text('phone', 'Phone Number'),
      text('company', 'Company Name'),
      text('lifecyclestage', 'Lifecycle Stage'),
      text('external_id', 'External ID', true),
      ...systemProperties,
    ],
  },
  {
    name: 'companies',
    labels: { singular: 'Company', plural: 'Companies' },
    properties: [text('name', 'Name'), text('domain', 'Company Domain Name'), ...systemProperties],
  },
  {
    name: 'deals',
    labels: { singular: 'Deal', plural: 'Deals' },
    properties: [text('dealname', 'Deal Name'), text('amount', 'Amount'), ...systemProperties],
  },
  {
    name: 'tickets',
    labels: { singular: 'Ticket', plural: 'Tickets' },
    properties: [text('subject', 'Ticket name'), ...systemProperties],
  },
];

export function isUniqueProperty(type: ObjectTypeDefinition, name: string): boolean {
  if (type.name === 'contacts' && name === 'email') return true;
  if (name === 'hs_object_id') return true;
  return type.properties.some((p) => p.name === name && p.hasUniqueValue);
}

/** HubSpot stores emails lower-cased and matches them without case. */
export function normalizeUnique(name: string, value: string): string {
  return name === 'email' ? value.trim().toLowerCase() : value;
}

export class CrmStore {
  readonly types = new Map<string, ObjectTypeDefinition>();
  private readonly records = new Map<string, Map<string, CrmRecord>>();
  /** type → unique property → normalized value → record id. */
  private readonly uniqueIndex = new Map<string, Map<string, Map<string, string>>>();
  private nextId = 1000;

  constructor(types: readonly ObjectTypeDefinition[]) {
    for (const type of types) {
      this.types.set(type.name, type);
      if (type.objectTypeId) this.types.set(type.objectTypeId, type);
      this.records.set(type.name, new Map());
    }
  }

  type(nameOrId: string): ObjectTypeDefinition | undefined {
    return this.types.get(nameOrId);
  }

  private table(type: ObjectTypeDefinition): Map<string, CrmRecord> {
    let table = this.records.get(type.name);
    if (!table) {
      table = new Map();
      this.records.set(type.name, table);
    }
    return table;
  }

  private index(type: ObjectTypeDefinition, property: string): Map<string, string> {
    let byProperty = this.uniqueIndex.get(type.name);
    if (!byProperty) {
      byProperty = new Map();
      this.uniqueIndex.set(type.name, byProperty);
    }
    let byValue = byProperty.get(property);
    if (!byValue) {
      byValue = new Map();
      byProperty.set(property, byValue);
    }
    return byValue;
  }

  /** Every live record of a type, for tests to compare with the model. */
  list(typeName: string): CrmRecord[] {
    const type = this.type(typeName);
    return type ? [...this.table(type).values()] : [];
  }

  get(type: ObjectTypeDefinition, id: string): CrmRecord | undefined {
    return this.table(type).get(id);
  }

  /** Finds a record by its id or a unique property's value. */
  findBy(type: ObjectTypeDefinition, property: string, value: string): CrmRecord | undefined {
    if (property === 'hs_object_id') return this.get(type, value);
    const id = this.index(type, property).get(normalizeUnique(property, value));
    return id === undefined ? undefined : this.get(type, id);
  }

  /** The record (other than `exceptId`) already holding one of the unique values, if any. */
  uniqueConflict(
    type: ObjectTypeDefinition,
    properties: Record<string, string>,
    exceptId: string | null,
  ): { property: string; value: string; holder: CrmRecord } | undefined {
    for (const [name, value] of Object.entries(properties)) {
      if (value === '' || name === 'hs_object_id' || !isUniqueProperty(type, name)) continue;
      const holder = this.findBy(type, name, value);
      if (holder && holder.id !== exceptId) return { property: name, value, holder };
    }
    return undefined;
  }

  create(type: ObjectTypeDefinition, properties: Record<string, string>, now: string): CrmRecord {
    const id = String(this.nextId++);
    const record: CrmRecord = { id, properties: { createdate: now }, createdAt: now, updatedAt: now };
    this.table(type).set(id, record);
    this.apply(type, record, properties, now);
    return record;
  }

  apply(
    type: ObjectTypeDefinition,
    record: CrmRecord,
    properties: Record<string, string>,
    now: string,
  ): void {
    for (const [name, value] of Object.entries(properties)) {
      if (name === 'hs_object_id' || name === 'createdate' || name === 'lastmodifieddate') continue;
      const unique = isUniqueProperty(type, name);
      const previous = record.properties[name];
      if (unique && previous !== undefined) this.index(type, name).delete(normalizeUnique(name, previous));
      // An empty string clears a property.
      if (value === '') delete record.properties[name];
      else {
        record.properties[name] = name === 'email' ? normalizeUnique(name, value) : value;
        if (unique) this.index(type, name).set(normalizeUnique(name, value), record.id);
      }
    }
    record.properties.hs_object_id = record.id;
    record.properties.lastmodifieddate = now;
    record.updatedAt = now;
  }

  archive(type: ObjectTypeDefinition, id: string): boolean {
    const record = this.get(type, id);
    if (!record) return false;
    for (const [name, value] of Object.entries(record.properties)) {
      if (isUniqueProperty(type, name)) this.index(type, name).delete(normalizeUnique(name, value));
    }
    return this.table(type).delete(id);
  }
}
