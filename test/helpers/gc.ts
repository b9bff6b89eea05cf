import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/**
 * A full garbage collection, for tests that prove memory is let go (invariant 4) by watching WeakRefs:
 * deterministic where heap figures are not.
 */
export const collectGarbage = runInNewContext('gc') as () => void;
