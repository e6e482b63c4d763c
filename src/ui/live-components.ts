// The live part of one environment's page: each component's latest Nomad deployment
// and the newest task events of its allocations, read when the page is opened. Nomad
// being slow or down must not hang or break the page: each read is bounded and a
// failure becomes a line saying so (scrubbed of secrets by pattern).
import type { NomadClient } from '../nomad/types.js';
import { safeErrorLine } from '../secrets.js';
import { withTimeout } from '../timeout.js';

export interface TaskEventView {
  at: Date;
  task: string;
  allocation: string;
  type: string;
  message: string;
}

export interface ComponentLive {
  deployment: { status: string; description: string; jobVersion: number } | null;
  allocations: { id: string; clientStatus: string; healthy: boolean | null; jobVersion: number }[];
  events: TaskEventView[];
  /** Set when Nomad could not be read; the rest is then empty. */
  error: string | null;
}

const EVENTS_SHOWN = 8;

const nomadSilent = (ms: number) => () => new Error(`Nomad did not answer within ${ms} ms`);

export async function readComponentLive(
  nomad: Pick<NomadClient, 'getLatestDeployment' | 'listAllocations'>,
  jobId: string,
  timeoutMs: number,
): Promise<ComponentLive> {
  try {
    const [{ deployment }, allocations] = await withTimeout(Promise.all([nomad.getLatestDeployment(jobId), nomad.listAllocations(jobId)]), timeoutMs, nomadSilent(timeoutMs));
    const events: TaskEventView[] = [];
    for (const alloc of allocations) {
      for (const [task, state] of Object.entries(alloc.tasks)) {
        // Nomad's task event Time is in nanoseconds since the epoch.
        for (const e of state.events) events.push({ at: new Date(Math.floor(e.time / 1e6)), task, allocation: alloc.id.slice(0, 8), type: e.type, message: e.message });
      }
    }
    events.sort((a, b) => b.at.getTime() - a.at.getTime());
    return {
      deployment: deployment ? { status: deployment.status, description: deployment.statusDescription, jobVersion: deployment.jobVersion } : null,
      allocations: allocations.map((a) => ({ id: a.id.slice(0, 8), clientStatus: a.clientStatus, healthy: a.healthy, jobVersion: a.jobVersion })),
      events: events.slice(0, EVENTS_SHOWN),
      error: null,
    };
  } catch (err) {
    return { deployment: null, allocations: [], events: [], error: safeErrorLine(err, 200) };
  }
}
