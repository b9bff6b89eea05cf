import type { HubspotConfig } from '../../../connectors/hubspot/config.ts';
import { hubspotConnector } from '../../../connectors/hubspot/index.ts';
import type {
  DestinationClient,
  Json,
  PlannedChange,
  SyncMode,
  WriteContext,
} from '../../../connectors/types.ts';
import { silentLogger } from '../../../src/logger.ts';
import type { HubspotEmulator } from '../../emulators/hubspot/server.ts';
import { writeContext } from '../write-context.ts';

export function hubspotClient(
  emulator: HubspotEmulator,
  overrides: Partial<Record<keyof HubspotConfig, unknown>> = {},
): DestinationClient {
  const config = hubspotConnector.configSchema.parse({
    accessToken: emulator.options.accessToken,
    basePath: emulator.url,
    requestTimeoutMs: 2000,
    ...overrides,
  });
  return hubspotConnector.create(config, { logger: silentLogger, allowPrivateNetwork: true });
}

export function context(
  mode: SyncMode,
  identifierField: string | null = 'email',
  object = 'contacts',
): WriteContext {
  return writeContext(object, mode, identifierField);
}

export function change(
  key: string,
  operation: PlannedChange['operation'],
  fields: Record<string, Json>,
  extra: Partial<PlannedChange> = {},
): PlannedChange {
  const email = typeof fields.email === 'string' ? fields.email : null;
  return {
    key,
    operation,
    idempotencyKey: `idem-${operation}-${key}`,
    identifier: email,
    destinationRecordId: null,
    fields,
    ...extra,
  };
}

export function contact(i: number, extra: Record<string, Json> = {}): Record<string, Json> {
  return { email: `user${i}@example.com`, firstname: `First${i}`, lastname: `Last${i}`, ...extra };
}
