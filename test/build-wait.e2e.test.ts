// Issue 13 §1 through the running daemon: a PR waits for its build, a build webhook
// (only a hint) gets it deployed, and with no webhook at all the build poll deploys it
// within one poll interval of its image appearing. Emulators + real Postgres/Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepoConfig } from '../src/config/schema.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { WEBHOOK_PATH } from '../src/http/webhooks.js';
import { sendPullRequestEvent, sendWebhook } from '../src/sandbox/emulators/webhook-sender.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

const IMAGES = { api: 'ghcr.io/acme/shop-api', frontend: 'ghcr.io/acme/shop-web', worker: 'ghcr.io/acme/shop-worker' };
const POLL_MS = 3_000;
const build = (b: Record<string, unknown>) => b as unknown as NonNullable<RepoConfig['build']>;

let world: World;
let daemon: Daemon;
const checked = () => world.repos[0]!;
const imagesOnly = () => world.repos[1]!;

beforeAll(async () => {
  world = await startWorld({
    registry: { auth: 'bearer' },
    repos: [
      // The poll is far away here: only the webhook can get this one deployed in time.
      { images: IMAGES, build: build({ checks: ['build-images'], waitForImages: true, pollInterval: '10m' }) },
      { images: IMAGES, build: build({ waitForImages: true, pollInterval: `${POLL_MS / 1000}s` }) },
    ],
  });
  daemon = await startDaemon(world.deps, { port: 0, host: '127.0.0.1', redisPrefix: world.redisPrefix, gc: false, resume: false, resync: false });
}, 60_000);

afterAll(async () => {
  await daemon?.stop({ graceMs: 2_000 });
  await world?.cleanup();
}, 30_000);

const hook = () => `${daemon.url}${WEBHOOK_PATH}`;
const push = (sha: string) => {
  for (const image of Object.values(IMAGES)) world.registry!.push(image.replace(/^ghcr\.io\//, ''), sha);
};
const statusOf = async (repo: string, pr: number) => (await world.deps.store.get(world.key(pr, repo)))?.status;
async function openPr(repo: string, pr: number, sha: string): Promise<void> {
  world.github.openPull(repo, { number: pr, headSha: sha });
  const sent = await sendPullRequestEvent(hook(), world.secrets.webhookSecret, { action: 'opened', repo, number: pr, headSha: sha });
  expect(sent.status).toBe(202);
}
const noMissingPull = () => expect(world.registry!.manifestLog.filter((e) => e.by === 'docker' && e.status !== 200)).toEqual([]);

describe('waiting for the build, through the daemon', () => {
  it('when the build check completes and a check_run webhook says so then the waiting PR is deployed', async () => {
    const sha = randomSha();
    world.github.setCheckRun(checked(), sha, { name: 'build-images', status: 'in_progress' });
    await openPr(checked(), 11, sha);
    await waitFor('PR 11 waiting for its build', async () => (await statusOf(checked(), 11)) === 'waiting_for_build', 30_000);

    world.github.setCheckRun(checked(), sha, { name: 'build-images', status: 'completed', conclusion: 'success' });
    push(sha);
    // The hint carries a lie (a failure): the gate reads GitHub's truth, not the payload.
    const hint = await sendWebhook({
      url: hook(),
      event: 'check_run',
      secret: world.secrets.webhookSecret,
      payload: { action: 'completed', check_run: { head_sha: sha, name: 'build-images', status: 'completed', conclusion: 'failure' }, repository: { full_name: checked() } },
    });
    expect(hint.status).toBe(202);
    expect(JSON.parse(hint.body)).toMatchObject({ status: 'accepted', reconciles: 1 });
    await waitFor('PR 11 ready after the hint', async () => (await statusOf(checked(), 11)) === 'ready', 30_000);
    noMissingPull();
  }, 60_000);

  it('when only waitForImages is set and no webhook ever comes then the poll deploys within one poll interval of the image appearing', async () => {
    const sha = randomSha();
    await openPr(imagesOnly(), 21, sha);
    await waitFor('PR 21 waiting for its images', async () => (await statusOf(imagesOnly(), 21)) === 'waiting_for_build', 30_000);
    // Let the wait age a little, so the images appear at an arbitrary point of the poll's cycle.
    await new Promise((r) => setTimeout(r, 1_000 + Math.floor(Math.random() * POLL_MS)));
    push(sha);
    const pushedAt = Date.now();
    const deploying = await waitFor(
      'PR 21 deploying after its images appeared',
      async () => (await world.deps.store.listEvents(world.key(21, imagesOnly()), 200)).find((e) => e.type === 'plan'),
      4 * POLL_MS,
    );
    const delayMs = deploying.at.getTime() - pushedAt;
    console.log(`build poll: deploy started ${delayMs} ms after the images appeared (poll interval ${POLL_MS} ms)`);
    // One poll interval, plus the queue's pick-up and a render on a loaded 2-core machine.
    expect(delayMs).toBeLessThanOrEqual(POLL_MS + 1_500);
    await waitFor('PR 21 ready', async () => (await statusOf(imagesOnly(), 21)) === 'ready', 30_000);
    noMissingPull();
  }, 60_000);

  it('when build webhooks are malformed, for another repository or for a commit nobody waits at then they are refused or ignored, and nothing is reconciled', async () => {
    const send = (event: string, payload: unknown) => sendWebhook({ url: hook(), event, secret: world.secrets.webhookSecret, payload });
    const bad = await send('status', { sha: 'not-a-sha', repository: { full_name: checked() } });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).reason).toBe('sha: expected a 40-character hex SHA');
    expect((await send('check_suite', { check_suite: {}, repository: { full_name: checked() } })).status).toBe(400);
    expect(JSON.parse((await send('workflow_run', { workflow_run: { head_sha: randomSha() }, repository: { full_name: 'someone/else' } })).body)).toMatchObject({ status: 'ignored', reason: 'repository not configured' });
    expect(JSON.parse((await send('status', { sha: randomSha(), state: 'success', context: 'x', repository: { full_name: checked() } })).body)).toMatchObject({ status: 'ignored', reason: 'no environment waits for this commit' });
    const unsigned = await sendWebhook({ url: hook(), event: 'check_run', secret: null, payload: { check_run: { head_sha: randomSha() }, repository: { full_name: checked() } } });
    expect(unsigned.status).toBe(401);
  });
});
