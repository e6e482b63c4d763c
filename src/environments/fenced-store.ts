// The store as the holder of a PR lock sees it: every observed-state write carries the
// lock's fencing token, so the store refuses it (StaleFenceError) once a newer holder
// has written. Once one write was refused, every later one is refused at once: fences
// only grow, and the run is over. Desired-state writes (recordDesired, recordTeardown,
// requestReconcile) and reads are the store's own: they say what is wanted, not what
// was observed, are ordered by desired_generation, and neither check nor move the fence.
import { StaleFenceError, UserError } from '../errors.js';
import type { EnvironmentStore, FencedEnvironmentStore } from './types.js';

export function fencedStore(store: EnvironmentStore, token: number): FencedEnvironmentStore {
  if (!Number.isSafeInteger(token) || token < 1) throw new UserError(`fencing token ${String(token)} is not a positive integer`);
  let refused: StaleFenceError | null = null;
  const guarded =
    <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (refused) throw refused;
      try {
        return await write(...args);
      } catch (err) {
        if (err instanceof StaleFenceError) refused = err;
        throw err;
      }
    };
  return {
    ...store,
    token,
    get refusal() {
      return refused;
    },
    updateObserved: guarded((key: Parameters<EnvironmentStore['updateObserved']>[0], patch: Parameters<EnvironmentStore['updateObserved']>[1]) => store.updateObserved(key, patch, token)),
    appendEvent: guarded((key: Parameters<EnvironmentStore['appendEvent']>[0], event: Parameters<EnvironmentStore['appendEvent']>[1]) => store.appendEvent(key, event, token)),
    claimHosts: guarded((key: Parameters<EnvironmentStore['claimHosts']>[0], hosts: string[]) => store.claimHosts(key, hosts, token)),
    releaseHosts: guarded((key: Parameters<EnvironmentStore['releaseHosts']>[0]) => store.releaseHosts(key, token)),
    // The view borrows the store's pool: closing it is the store owner's business.
    close: async () => undefined,
  };
}
