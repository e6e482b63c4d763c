// What a held-back reconcile records and shows: status, generation, one event per change,
// and a projection GitHub is not told twice.
import { describe, expect, it } from 'vitest';
import type { Progress } from '../environments/outcome.js';
import { decideBuildHold, projectBuildHold, type HeldGate } from './hold.js';

const SHA = 'a'.repeat(40);
const OLD = 'b'.repeat(40);
const NOW = new Date('2026-03-01T12:00:00Z');
const desired = { present: true, sha: SHA, generation: 7, reason: 'synchronize' };
const waiting: HeldGate = { kind: 'waiting', waitingFor: ['check build-images (in_progress)'] };
const failed: HeldGate = { kind: 'failed', reason: 'check', check: 'build-images', conclusion: 'failure' };
const progress = (resources: Record<string, unknown> = {}): Progress => ({ components: { api: 'healthy' }, resources, githubDeploymentId: 3, githubCommentId: 4 });

describe('build hold', () => {
  it('when the build is waiting then the record waits at the desired generation with no error, and one event is written', () => {
    const out = decideBuildHold({ status: 'ready', resources: {} }, desired, waiting, progress(), NOW);
    expect(out.status).toBe('waiting_for_build');
    expect(out.patch).toMatchObject({ status: 'waiting_for_build', lastError: null, observedGeneration: 7, resources: { build: { sha: SHA, checkedAt: NOW.toISOString(), line: 'waiting for the build: check build-images (in_progress)' } } });
    expect(out.events).toEqual([{ type: 'build-wait', message: 'waiting for the build: check build-images (in_progress)', data: { sha: SHA } }]);
  });

  it('when nothing changed since the last look then only the time of the look is written, no event', () => {
    const first = decideBuildHold({ status: 'ready', resources: {} }, desired, waiting, progress(), NOW);
    const again = decideBuildHold({ status: 'waiting_for_build', resources: first.patch!.resources! }, desired, waiting, progress(first.patch!.resources!), new Date(NOW.getTime() + 30_000));
    expect(again.events).toEqual([]);
    expect((again.patch!.resources as { build: { checkedAt: string } }).build.checkedAt).toBe(new Date(NOW.getTime() + 30_000).toISOString());
  });

  it('when the build failed then the record is failed with the line as its error', () => {
    const out = decideBuildHold({ status: 'waiting_for_build', resources: {} }, desired, failed, progress(), NOW);
    expect(out.patch).toMatchObject({ status: 'failed', lastError: 'build failed: build-images failure', observedGeneration: 7 });
    expect(out.events.map((e) => e.type)).toEqual(['build-failed']);
  });

  it('when GitHub already shows the hold then it is not told again; an earlier serving SHA is named as still running', () => {
    const record = { status: 'ready' as const, githubDeploymentId: 3, observedSha: OLD, components: { api: 'healthy' }, resources: {} };
    const projection = projectBuildHold(record, desired, failed)!;
    expect(projection).toEqual({ state: 'build-failed', sha: SHA, error: 'build failed: build-images failure', reported: `build-failed:${SHA}:build failed: build-images failure`, runningSha: OLD });
    expect(projectBuildHold({ ...record, resources: { githubReported: projection.reported } }, desired, failed)).toBeNull();
    expect(projectBuildHold({ ...record, components: { api: 'stopped' } }, desired, waiting)!.runningSha).toBeNull();
  });
});
