// The queue's processor: one reconcile of a PR by the holder of its lock. The run sees
// the store through the lock's fencing token (environments/fenced-store.ts), so once the lock is lost
// and a newer holder has written, this run's writes are refused. A refused run stops
// and is not retried: the newer holder read the state after this one took the lock,
// so it owns whatever this run was for. The CLI's reconciles run through here too, under
// the same lock (locked-reconcile.ts). Other writers of the store (webhooks, admin, GC)
// do not take the lock and write unfenced: desired state and events (see store.ts).
// GitHub is told nothing more by a refused run either, nor by one whose signal fired
// (its lock was seen lost, or the worker is stopping and the job resumes elsewhere):
// its failure handling would otherwise report "degraded" on the PR, over what the newer
// holder reported or for a stop that is no fault of the PR.
import type { Deps } from '../deps.js';
import type { GitHubClient } from '../github/types.js';
import { fencedStore } from '../environments/fenced-store.js';
import { reconcileEnvironment } from '../environments/reconcile.js';
import { keyString } from '../environments/naming.js';
import { StaleFenceError, TransientError } from '../errors.js';
import type { ReconcileProcessor } from './reconcile-queue.js';

export function fencedReconcile(deps: Deps, reconcile: typeof reconcileEnvironment = reconcileEnvironment): ReconcileProcessor {
  return async (key, run) => {
    const store = fencedStore(deps.store, run.fencingToken);
    const stopped = () => store.refusal ?? (run.signal.aborted ? new TransientError('stopped: the PR lock was lost or previewd is stopping', { system: 'redis' }) : null);
    const github = refusingAfter(deps.github, stopped);
    let thrown: unknown = null;
    try {
      await reconcile({ ...deps, store, github }, key, { signal: run.signal, ...(run.whileWaiting ? { whileWaiting: run.whileWaiting } : {}) });
    } catch (err) {
      thrown = err;
    }
    // The reconcile may have swallowed the refusal (a failure it could not record) and
    // thrown the step's own error instead: the view remembers it either way.
    const lost = store.refusal ?? (thrown instanceof StaleFenceError ? thrown : null);
    if (lost === null) {
      if (thrown !== null) throw thrown;
      return;
    }
    deps.metrics.lockLost.inc();
    deps.log.warn({ env: keyString(key), token: lost.token, fence: lost.fence, jobId: run.jobId }, 'reconcile stopped: the PR lock was lost to a newer holder; not retried');
  };
}

/** The client, whose every call is refused with the store's refusal once there is one. */
function refusingAfter(client: GitHubClient, refusal: () => Error | null): GitHubClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const refused = refusal();
        return refused ? Promise.reject(refused) : (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
