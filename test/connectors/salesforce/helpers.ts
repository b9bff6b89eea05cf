import { salesforceConfigSchema } from '../../../connectors/salesforce/config.ts';
import { salesforceConnector } from '../../../connectors/salesforce/index.ts';
import type {
  DestinationClient,
  PlannedChange,
  RecordOutcome,
  WriteResult,
} from '../../../connectors/types.ts';
import { silentLogger } from '../../../src/logger.ts';
import type { SalesforceEmulator } from '../../emulators/salesforce/server.ts';

export function clientFor(
  sf: SalesforceEmulator,
  overrides: Record<string, unknown> = {},
): DestinationClient {
  const config = salesforceConfigSchema.parse({
    instanceUrl: sf.url,
    loginUrl: sf.url,
    accessToken: sf.accessToken,
    refreshToken: sf.refreshToken,
    clientId: sf.clientId,
    clientSecret: sf.clientSecret,
    requestTimeoutMs: 2000,
    bulkPollIntervalMs: 10,
    ...overrides,
  });
  return salesforceConnector.create(config, { logger: silentLogger, allowPrivateNetwork: true });
}

export { writeContext as context } from '../write-context.ts';

export function change(
  key: string,
  operation: PlannedChange['operation'],
  fields: PlannedChange['fields'],
  options: { identifier?: string | null; destinationRecordId?: string | null } = {},
): PlannedChange {
  return {
    key,
    operation,
    idempotencyKey: `idem-${key}-${operation}`,
    identifier: options.identifier === undefined ? key : options.identifier,
    destinationRecordId: options.destinationRecordId ?? null,
    fields,
  };
}

export function outcomesOf(result: WriteResult): Map<string, RecordOutcome> {
  if (!result.ok) throw new Error(`write failed: ${result.failure.kind}: ${result.failure.reason}`);
  return new Map(result.outcomes.map((o) => [o.key, o]));
}
