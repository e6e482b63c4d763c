// The build gate's last verdict as kept in an environment's record (resources.build).
// A module of its own, importing nothing of the environments' logic, so the credential
// renewal (environments/credential-renewal.ts) can read it without an import cycle.
import type { EnvironmentRecord } from '../environments/types.js';

/** Kept in resources.build: the last gate verdict, so the poll knows when it looked and events are written once per change. */
export interface RecordedBuildWait {
  sha: string;
  /** ISO time of the last look at GitHub and the registry. */
  checkedAt: string;
  line: string;
}

export function recordedBuildWait(record: Pick<EnvironmentRecord, 'resources'> | null): RecordedBuildWait | null {
  const build = record?.resources['build'] as Partial<RecordedBuildWait> | undefined;
  if (!build || typeof build.sha !== 'string' || typeof build.checkedAt !== 'string' || typeof build.line !== 'string') return null;
  return { sha: build.sha, checkedAt: build.checkedAt, line: build.line };
}
