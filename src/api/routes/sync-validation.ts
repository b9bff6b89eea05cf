import type { FieldMapping, IdentifierMapping, Schedule, SyncMode } from '../../db/schema/index.ts';
import { mergeSecrets } from '../../secrets/split.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadDestination } from './destinations.ts';
import { loadModel } from './models.ts';
import {
  connectorFor,
  INTERACTIVE_TIMEOUT_MS,
  parseKindConfig,
  type StoredConfig,
  withDestination,
} from './shared.ts';
import { loadSource, modelColumns } from './sources.ts';

/** A sync as the API will store it, after defaults and a PATCH are applied. */
export interface SyncDraft {
  name: string;
  modelId: string;
  destinationId: string;
  object: string;
  mode: SyncMode;
  identifier: IdentifierMapping | null;
  mappings: FieldMapping[];
  schedule: Schedule;
  enabled: boolean;
  massDelete: { maxShare: number; minCount: number };
}

interface Issue {
  path: string;
  message: string;
}

async function referenced<T>(load: () => Promise<T>, path: string, what: string, id: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'not_found') {
      throw new ApiError('validation_failed', `${what} ${id} does not exist.`, [
        { path, message: `no ${what.toLowerCase()} has this id` },
      ]);
    }
    throw error;
  }
}

/**
 * Where the destination can list its objects, the sync's object must be one of them. A destination that
 * cannot be reached now does not block saving the sync; its runs will report the problem.
 */
async function checkObject(
  deps: AppDeps,
  destination: StoredConfig,
  label: string,
  objects: 'discover' | 'any',
  object: string,
): Promise<Issue | null> {
  if (objects !== 'discover') return null;
  let names: string[] | null;
  try {
    names = await withDestination(deps, destination, async (client) =>
      client.listObjects
        ? (await client.listObjects(AbortSignal.timeout(INTERACTIVE_TIMEOUT_MS))).map((o) => o.name)
        : null,
    );
  } catch (error) {
    deps.logger.info({ err: error }, 'could not list destination objects; not checking the sync object');
    return null;
  }
  if (!names || names.includes(object)) return null;
  return { path: 'object', message: `${label} has no object "${object}"; it has: ${names.join(', ')}` };
}

/**
 * Checks a sync against what it connects: its columns exist in the model, and the destination's
 * connector supports the mode and the identifier rule. All problems are reported at once.
 */
export async function validateSyncDraft(deps: AppDeps, draft: SyncDraft): Promise<void> {
  const model = await referenced(() => loadModel(deps, draft.modelId), 'modelId', 'Model', draft.modelId);
  const destination = await referenced(
    () => loadDestination(deps, draft.destinationId),
    'destinationId',
    'Destination',
    draft.destinationId,
  );
  const connector = connectorFor(deps, destination.kind);
  const capabilities = connector.capabilities(
    parseKindConfig(connector.configSchema, mergeSecrets(destination, deps.secrets)),
  );
  const issues: Issue[] = [];
  if (!capabilities.modes.includes(draft.mode)) {
    issues.push({
      path: 'mode',
      message: `${connector.label} destinations support ${capabilities.modes.join(', ')}, not ${draft.mode}`,
    });
  }
  if (capabilities.identifier === 'required' && !draft.identifier) {
    issues.push({
      path: 'identifier',
      message: `${connector.label} destinations need an identifier mapping`,
    });
  }
  if (capabilities.identifier === 'none' && draft.identifier) {
    issues.push({
      path: 'identifier',
      message: `${connector.label} destinations take no identifier mapping`,
    });
  }
  const seen = new Map<string, number>();
  draft.mappings.forEach((mapping, index) => {
    const first = seen.get(mapping.to);
    if (first !== undefined) {
      issues.push({
        path: `mappings.${index}.to`,
        message: `destination field "${mapping.to}" is already mapped by mappings.${first}`,
      });
    } else seen.set(mapping.to, index);
  });

  const objectIssue = await checkObject(
    deps,
    destination,
    connector.label,
    capabilities.objects,
    draft.object,
  );
  if (objectIssue) issues.push(objectIssue);

  const source = await loadSource(deps, model.sourceId);
  const columns = (await modelColumns(deps, source, model.sql)).map((col) => col.name);
  const known = new Set(columns);
  const unknown = (column: string) =>
    `"${column}" is not a column of the model; its columns are: ${columns.join(', ')}`;
  if (draft.identifier && !known.has(draft.identifier.from)) {
    issues.push({ path: 'identifier.from', message: unknown(draft.identifier.from) });
  }
  draft.mappings.forEach((mapping, index) => {
    if (!known.has(mapping.from))
      issues.push({ path: `mappings.${index}.from`, message: unknown(mapping.from) });
  });

  if (issues.length > 0) {
    const [first] = issues;
    const summary = first ? `${first.path}: ${first.message}` : '';
    throw new ApiError(
      'validation_failed',
      `The sync is not valid: ${summary}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}.`,
      issues,
    );
  }
}
