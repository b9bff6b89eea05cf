/** An in-memory Salesforce org: sObject definitions, records, validation rules and DML semantics. */

export type Value = string | number | boolean | null;
export type SObjectRecord = Record<string, Value>;

export interface FieldDef {
  name: string;
  type: 'id' | 'string' | 'email' | 'double' | 'boolean' | 'date';
  required?: boolean;
  externalId?: boolean;
}

export interface SObjectDef {
  name: string;
  /** The three-character key prefix of its Ids (001 Account, 003 Contact). */
  prefix: string;
  fields: FieldDef[];
}

export interface RecordError {
  statusCode: string;
  message: string;
  fields: string[];
}

export interface SaveResult {
  id?: string;
  success: boolean;
  errors: RecordError[];
  created?: boolean;
}

export const standardObjects: SObjectDef[] = [
  {
    name: 'Account',
    prefix: '001',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'Name', type: 'string', required: true },
      { name: 'Industry', type: 'string' },
      { name: 'Website', type: 'string' },
      { name: 'NumberOfEmployees', type: 'double' },
      { name: 'Ext_Id__c', type: 'string', externalId: true },
    ],
  },
  {
    name: 'Contact',
    prefix: '003',
    fields: [
      { name: 'Id', type: 'id' },
      { name: 'FirstName', type: 'string' },
      { name: 'LastName', type: 'string', required: true },
      { name: 'Email', type: 'email' },
      { name: 'Phone', type: 'string' },
      { name: 'HasOptedOutOfEmail', type: 'boolean' },
      { name: 'Ext_Id__c', type: 'string', externalId: true },
    ],
  },
];

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class Org {
  readonly objects = new Map<string, SObjectDef>();
  private readonly data = new Map<string, Map<string, SObjectRecord>>();
  /** `type.field` → lower-cased external id value → record Id; rebuilt lazily after writes. */
  private extIndex = new Map<string, Map<string, string>>();
  private readonly deleted = new Set<string>();
  private counter = 0;

  constructor(objects: SObjectDef[]) {
    for (const o of objects) {
      this.objects.set(o.name, o);
      this.data.set(o.name, new Map());
    }
  }

  records(type: string): SObjectRecord[] {
    return [...(this.data.get(type)?.values() ?? [])].map((r) => ({ ...r }));
  }

  /** A copy of all records, so an allOrNone request can be rolled back. */
  snapshot(): Map<string, Map<string, SObjectRecord>> {
    return new Map([...this.data].map(([t, m]) => [t, new Map([...m].map(([id, r]) => [id, { ...r }]))]));
  }

  restore(saved: Map<string, Map<string, SObjectRecord>>): void {
    for (const [t, m] of saved) this.data.set(t, m);
    this.extIndex.clear();
  }

  /** The first field a record names that its sObject does not have (a whole-request 400 in Salesforce). */
  unknownField(type: string, fields: Record<string, unknown>): string | null {
    const def = this.objects.get(type);
    if (!def) return null;
    for (const name of Object.keys(fields)) {
      if (name === 'attributes' || name === 'id') continue;
      if (!def.fields.some((f) => f.name === name)) return name;
    }
    return null;
  }

  create(type: string, fields: SObjectRecord): SaveResult {
    const def = this.def(type);
    const errors = this.validate(def, fields, true);
    if (errors.length > 0) return { success: false, errors };
    const duplicate = this.duplicateExternalId(def, fields, null);
    if (duplicate) return { success: false, errors: [duplicate] };
    this.counter += 1;
    const id = `${def.prefix}${'0'.repeat(3)}${String(this.counter).padStart(9, '0')}AAA`;
    const record = { ...stripNulls(fields), Id: id };
    this.table(type).set(id, record);
    this.index(def, id, null, record);
    return { id, success: true, errors: [] };
  }

  update(type: string, id: string, fields: SObjectRecord): SaveResult {
    const def = this.def(type);
    const existing = this.table(type).get(id);
    if (!existing) return { success: false, errors: [this.missing(id)] };
    const merged = { ...existing, ...fields, Id: id };
    const errors = this.validate(def, merged, false);
    if (errors.length > 0) return { success: false, errors };
    const duplicate = this.duplicateExternalId(def, merged, id);
    if (duplicate) return { success: false, errors: [duplicate] };
    const record = stripNulls(merged);
    this.table(type).set(id, record);
    this.index(def, id, existing, record);
    return { id, success: true, errors: [] };
  }

  upsert(type: string, extField: string, fields: SObjectRecord): SaveResult {
    const value = fields[extField];
    if (value === null || value === undefined || value === '') {
      return {
        success: false,
        errors: [{ statusCode: 'MISSING_ARGUMENT', message: `${extField} not specified`, fields: [] }],
      };
    }
    const id = this.findByExternalId(type, extField, String(value));
    if (id) return { ...this.update(type, id, fields), created: false };
    const created = this.create(type, fields);
    return { ...created, created: created.success ? true : undefined };
  }

  delete(type: string | null, id: string): SaveResult {
    for (const [name, table] of this.data) {
      if (type && name !== type) continue;
      const existing = table.get(id);
      if (existing && table.delete(id)) {
        const def = this.objects.get(name);
        if (def) this.index(def, id, existing, null);
        this.deleted.add(id);
        return { id, success: true, errors: [] };
      }
    }
    return { success: false, errors: [this.missing(id)] };
  }

  findByExternalId(type: string, field: string, value: string): string | null {
    const key = `${type}.${field}`;
    let index = this.extIndex.get(key);
    if (!index) {
      index = new Map();
      for (const [id, r] of this.table(type)) {
        const v = r[field];
        if (v !== null && v !== undefined) index.set(String(v).toLowerCase(), id);
      }
      this.extIndex.set(key, index);
    }
    return index.get(value.toLowerCase()) ?? null;
  }

  /** Keeps built external id indexes in step with one record's change. */
  private index(
    def: SObjectDef,
    id: string,
    before: SObjectRecord | null,
    after: SObjectRecord | null,
  ): void {
    for (const f of def.fields) {
      const index = f.externalId ? this.extIndex.get(`${def.name}.${f.name}`) : undefined;
      if (!index) continue;
      const old = before?.[f.name];
      if (old !== null && old !== undefined && index.get(String(old).toLowerCase()) === id) {
        index.delete(String(old).toLowerCase());
      }
      const next = after?.[f.name];
      if (next !== null && next !== undefined) index.set(String(next).toLowerCase(), id);
    }
  }

  private missing(id: string): RecordError {
    return this.deleted.has(id)
      ? { statusCode: 'ENTITY_IS_DELETED', message: 'entity is deleted', fields: [] }
      : { statusCode: 'INVALID_CROSS_REFERENCE_KEY', message: 'invalid cross reference id', fields: [] };
  }

  private duplicateExternalId(
    def: SObjectDef,
    fields: SObjectRecord,
    self: string | null,
  ): RecordError | null {
    for (const f of def.fields) {
      const value = fields[f.name];
      if (!f.externalId || value === null || value === undefined) continue;
      const other = this.findByExternalId(def.name, f.name, String(value));
      if (other && other !== self) {
        return {
          statusCode: 'DUPLICATE_VALUE',
          message: `duplicate value found: ${f.name} duplicates value on record with id: ${other}`,
          fields: [f.name],
        };
      }
    }
    return null;
  }

  private validate(def: SObjectDef, fields: SObjectRecord, creating: boolean): RecordError[] {
    const missing = def.fields.filter(
      (f) =>
        f.required &&
        (creating || f.name in fields) &&
        (fields[f.name] === null || fields[f.name] === undefined || fields[f.name] === ''),
    );
    if (missing.length > 0) {
      const names = missing.map((f) => f.name);
      return [
        {
          statusCode: 'REQUIRED_FIELD_MISSING',
          message: `Required fields are missing: [${names.join(', ')}]`,
          fields: names,
        },
      ];
    }
    for (const f of def.fields) {
      const value = fields[f.name];
      if (f.type === 'email' && typeof value === 'string' && value !== '' && !emailPattern.test(value)) {
        return [
          {
            statusCode: 'INVALID_EMAIL_ADDRESS',
            message: `${f.name}: invalid email address: ${value}`,
            fields: [f.name],
          },
        ];
      }
    }
    return [];
  }

  private def(type: string): SObjectDef {
    const def = this.objects.get(type);
    if (!def) throw new Error(`unknown sObject ${type}`);
    return def;
  }

  private table(type: string): Map<string, SObjectRecord> {
    const table = this.data.get(type);
    if (!table) throw new Error(`unknown sObject ${type}`);
    return table;
  }
}

/** Salesforce stores a null field as absent: a queried record simply has it null. */
function stripNulls(record: SObjectRecord): SObjectRecord {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null && v !== undefined));
}
