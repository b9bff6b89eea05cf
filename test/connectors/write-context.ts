import type { WriteContext } from '../../connectors/types.ts';
import { silentLogger } from '../../src/logger.ts';

/** The context the engine passes to a connector's write, for calling a client directly in a test. */
export function writeContext(
  object: string,
  mode: WriteContext['mode'],
  identifierField: string | null,
): WriteContext {
  return {
    syncId: 'syn_test',
    runId: 'run_test',
    object,
    mode,
    identifierField,
    signal: new AbortController().signal,
    logger: silentLogger,
  };
}
