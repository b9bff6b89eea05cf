import type { ConnectorDeps, PlannedChange, WriteContext } from '../../../connectors/types.ts';
import { silentLogger } from '../../../src/logger.ts';
import { writeContext } from '../write-context.ts';

export const deps: ConnectorDeps = { logger: silentLogger, allowPrivateNetwork: true };

export function context(object = 'contacts'): WriteContext {
  return writeContext(object, 'mirror', null);
}

export function upsert(key: string, fields: PlannedChange['fields']): PlannedChange {
  return {
    key,
    operation: 'upsert',
    idempotencyKey: `idem_${key}_${Object.values(fields)
      .join('_')
      .replace(/[^A-Za-z0-9_-]/g, '')}`,
    identifier: null,
    destinationRecordId: null,
    fields,
  };
}

export function remove(key: string): PlannedChange {
  return {
    key,
    operation: 'delete',
    idempotencyKey: `idem_${key}_delete`,
    identifier: null,
    destinationRecordId: null,
    fields: {},
  };
}

export const secretA = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
export const secretB = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
