// The dashboard in a real headless Chromium (Debian's chromium driven by playwright-core)
// against a daemon over the sandbox world: sign in, see the environments, open one,
// retry a parked job, apply a GC plan, and follow a PR's read-only link, which shows
// that environment and no operator page. Hostile PR data must not execute. A
// screenshot of each page goes to test-artifacts/ui/ (git-ignored) for a person to look at.
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { WEBHOOK_PATH } from '../src/http/webhooks.js';
import { sendPullRequestEvent } from '../src/sandbox/emulators/webhook-sender.js';
import { randomSha, type World } from '../src/sandbox/world.js';
import { startWorld } from './support/pg.js';
import { waitFor } from './support/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '..', 'test-artifacts', 'ui');
const HOSTILE = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`;
const HOSTILE_TITLE = `Fix checkout <script>window.__pwned=3</script>`;
// A valid git ref: no space, ~ ^ : ? * [ or backslash.
const HOSTILE_BRANCH = `feat/<script>window.__pwned=4</script>`;
const READY_PR = 11;
const FAILED_PR = 12;
const PARKED_PR = 13;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('dashboard in headless Chromium', () => {
  let world: World;
  let daemon: Daemon;
  let browser: Browser;
  let operator: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];

  const statusOf = async (pr: number) => (await world.deps.store.get(world.key(pr)))?.status;
  const parkedPrs = async () => (await daemon.queue.listParked()).map((p) => p.key.pr);

  async function shoot(p: Page, name: string): Promise<void> {
    await p.screenshot({ path: resolve(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  async function expectNothingExecuted(p: Page): Promise<void> {
    expect(await p.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
  }

  beforeAll(async () => {
    // Fail loudly, never skip: CI installs chromium (.ci/run), and so must a developer.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    world = await startWorld();
    daemon = await startDaemon(world.deps, {
      port: 0,
      host: '127.0.0.1',
      redisPrefix: world.redisPrefix,
      gc: false,
      // One attempt: a transient failure parks at once, so there is something to retry.
      queue: { attempts: 1, lockDurationMs: 3000, stalledIntervalMs: 1000, backoff: { baseMs: 50, maxMs: 200, jitter: 0.2 } },
    });

    await world.open(READY_PR, randomSha());
    await daemon.queue.enqueue(world.key(READY_PR), 'opened');
    await waitFor(`PR ${READY_PR} ready`, async () => (await statusOf(READY_PR)) === 'ready', 30_000);

    // A PR opened by a signed webhook with an attacker-written title, branch and label,
    // whose task then fails with attacker-written text.
    world.cluster.behaviour.set(world.names(FAILED_PR).jobId('api'), { fail: { task: 'api', event: 'Driver Failure', message: HOSTILE } });
    const failedSha = randomSha();
    world.github.openPull(world.repos[0]!, { number: FAILED_PR, headSha: failedSha });
    const hook = await sendPullRequestEvent(`${daemon.url}${WEBHOOK_PATH}`, world.secrets.webhookSecret, {
      action: 'opened',
      repo: world.repos[0]!,
      number: FAILED_PR,
      headSha: failedSha,
      title: HOSTILE_TITLE,
      headRef: HOSTILE_BRANCH,
      labels: [HOSTILE.slice(0, 60)],
    });
    expect(hook.status).toBe(202);
    await waitFor(`PR ${FAILED_PR} failed and parked`, async () => (await statusOf(FAILED_PR)) === 'failed' && (await parkedPrs()).includes(FAILED_PR), 30_000);

    // A PR that Nomad answers 500 for: out of its one attempt, parked; healed before the retry.
    world.nomad.faults.failures.push({ path: new RegExp(`^/v1/job/${escapeRegExp(world.names(PARKED_PR).id)}-`), status: 500, body: 'rpc error: No cluster leader', times: 10_000 });
    await world.open(PARKED_PR, randomSha());
    await daemon.queue.enqueue(world.key(PARKED_PR), 'opened');
    await waitFor(`PR ${PARKED_PR} parked`, async () => (await parkedPrs()).includes(PARKED_PR), 30_000);
    world.nomad.faults.failures.length = 0;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await operator.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop({ graceMs: 2000 });
    await world?.cleanup();
  }, 60_000);

  it('when an operator signs in then the environments list shows every PR with its status, and hostile text stays text', async () => {
    await page.goto(`${daemon.url}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    await shoot(page, '01-sign-in');
    await page.fill('#token', 'not-the-admin-token');
    await page.click('button[type=submit]');
    await expect(page.textContent('[role=alert]')).resolves.toContain('That is not the admin token.');
    await page.fill('#token', world.secrets.adminToken);
    await page.click('button.primary');
    expect(new URL(page.url()).pathname).toBe('/ui');

    const rows = page.locator('table.stack tbody tr');
    expect(await rows.count()).toBe(3);
    const ready = rows.filter({ hasText: `#${READY_PR}` });
    await expect(ready.locator('.badge').first().textContent()).resolves.toBe('ready');
    await expect(ready.locator('a', { hasText: 'GitHub' }).getAttribute('href')).resolves.toBe(`${world.config.env.GITHUB_API_URL}/${world.repos[0]}/pull/${READY_PR}`);
    await expect(ready.textContent()).resolves.toContain(new URL(world.names(READY_PR).url('frontend')!).host);
    const failed = rows.filter({ hasText: `#${FAILED_PR}` });
    await expect(failed.locator('.badge').first().textContent()).resolves.toBe('failed');
    // The hostile text is visible as text: it was not parsed as markup.
    // Cut in the list, whole in the tooltip: an attribute value the browser read back intact.
    await expect(failed.locator('.reason').getAttribute('title')).resolves.toContain(HOSTILE);
    await expect(failed.locator('.label').textContent()).resolves.toContain('<script>');
    await expect(failed.locator('.title').textContent()).resolves.toBe(HOSTILE_TITLE);
    await expect(failed.locator('code.branch').textContent()).resolves.toBe(HOSTILE_BRANCH);
    expect(await page.locator('main script, main img').count()).toBe(0);
    await expectNothingExecuted(page);
    await shoot(page, '02-environments');
  });

  it('when the operator opens an environment then its components, Nomad deployment, task events, names and timeline show', async () => {
    await page.click(`a[href$="/${READY_PR}"]:text("#${READY_PR}")`);
    expect(new URL(page.url()).pathname).toBe(`/ui/environments/${world.repos[0]}/${READY_PR}`);
    const names = world.names(READY_PR);
    const components = page.locator('.component');
    expect(await components.count()).toBe(4);
    await expect(components.filter({ hasText: names.jobId('api') }).textContent()).resolves.toMatch(/Deployment:\s*successful/);
    await expect(page.locator('dl.facts').last().textContent()).resolves.toContain(names.database);
    expect(await page.locator('.timeline li').count()).toBeGreaterThan(1);
    await shoot(page, '03-environment-ready');

    await page.goto(`${daemon.url}/ui/environments/${world.repos[0]}/${FAILED_PR}`);
    await expect(page.locator('pre.error.banner').textContent()).resolves.toContain(HOSTILE);
    await expect(page.locator('dl.facts').first().textContent()).resolves.toContain(HOSTILE_TITLE);
    await expect(page.locator('dl.facts code.branch').textContent()).resolves.toBe(HOSTILE_BRANCH);
    await expect(page.locator('.component', { hasText: 'Driver Failure' }).count()).resolves.toBeGreaterThan(0);
    await expectNothingExecuted(page);
    await shoot(page, '04-environment-failed');
  });

  it('when the operator retries a parked job from the queue page then the PR is reconciled again and leaves the parked list', async () => {
    await page.click('header nav a:text("Queue")');
    expect(new URL(page.url()).pathname).toBe('/ui/queue');
    const parkedRow = page.locator('tr', { hasText: `${world.repos[0]}#${PARKED_PR}` }).filter({ has: page.locator('button:text("Retry")') });
    await expect(parkedRow.locator('pre.error').textContent()).resolves.toContain('No cluster leader');
    await expectNothingExecuted(page);
    await shoot(page, '05-queue');

    await parkedRow.locator('button:text("Retry")').click();
    await expect(page.textContent('[role=status]')).resolves.toContain('Retry queued');
    await waitFor(`PR ${PARKED_PR} ready after the retry`, async () => (await statusOf(PARKED_PR)) === 'ready', 30_000);
    await page.reload();
    expect(await page.locator('tr', { hasText: `${world.repos[0]}#${PARKED_PR}` }).filter({ has: page.locator('button:text("Retry")') }).count()).toBe(0);
    expect(await parkedPrs()).not.toContain(PARKED_PR);
    await shoot(page, '06-queue-after-retry');
  });

  it('when the operator looks at the GC plan then the dry run lists what is stale, and applying it tears it down', async () => {
    // Closed on GitHub with no webhook delivered: only GC can notice.
    world.github.closePull(world.repos[0]!, READY_PR);
    await page.click('header nav a:text("GC")');
    expect(new URL(page.url()).pathname).toBe('/ui/gc');
    await expect(page.locator('h1').textContent()).resolves.toBe('GC plan (dry run)');
    await expect(page.locator('table.stack').first().textContent()).resolves.toContain(`${world.repos[0]}#${READY_PR}`);
    expect(await statusOf(READY_PR)).toBe('ready');
    await shoot(page, '07-gc-plan');

    await page.click('button:text("Apply this plan")');
    await expect(page.locator('h1').textContent()).resolves.toBe('GC applied');
    await expect(page.textContent('[role=status]')).resolves.toContain('Applied: 1');
    await waitFor(`PR ${READY_PR} removed by GC`, async () => (await statusOf(READY_PR)) === 'removed', 30_000);
    await shoot(page, '08-gc-applied');
  });

  it("when a PR reader follows the deployment's log_url then that environment shows read-only, and the admin pages stay closed", async () => {
    const repo = world.repos[0]!;
    const deployment = world.github.deployments(repo).find((d) => d.environment === world.names(FAILED_PR).githubEnvironment)!;
    const logUrl = new URL(deployment.statuses.at(-1)!.logUrl!);
    expect(logUrl.pathname).toBe(`/ui/pr/${repo}/${FAILED_PR}`);
    const statusTarget = world.github.commitStatuses(repo, deployment.sha).at(-1)!.targetUrl!;
    expect(statusTarget).toBe(logUrl.toString());
    expect(world.github.comments(repo, FAILED_PR).at(-1)!.body).toContain(`Details: ${logUrl.toString()}`);

    const reader = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await reader.newPage();
      p.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      const link = `${daemon.url}${logUrl.pathname}${logUrl.search}`;
      await p.goto(link);
      await expect(p.textContent('header')).resolves.toContain(`Read-only view of ${repo}#${FAILED_PR}`);
      await expect(p.locator('pre.error.banner').textContent()).resolves.toContain(HOSTILE);
      expect(await p.locator('header nav, form').count()).toBe(0);
      // No resource panel and no links into Nomad or Consul for readers (the timeline may name steps).
      expect(await p.locator('h2', { hasText: 'Resources' }).count()).toBe(0);
      expect(await p.locator('a', { hasText: /Nomad|Consul/ }).count()).toBe(0);
      await expectNothingExecuted(p);
      await shoot(p, '09-reader');

      for (const path of ['/ui', '/ui/queue', '/ui/gc', `/ui/environments/${repo}/${FAILED_PR}`]) {
        await p.goto(`${daemon.url}${path}${logUrl.search}`);
        expect([path, new URL(p.url()).pathname]).toEqual([path, '/ui/sign-in']);
      }
      const other = await p.goto(`${daemon.url}/ui/pr/${repo}/${PARKED_PR}${logUrl.search}`);
      expect(other?.status()).toBe(403);
      await expect(p.textContent('h1')).resolves.toBe('Link not valid');
      await shoot(p, '10-reader-other-pr-refused');
    } finally {
      await reader.close();
    }
  });

  it('when the pages are opened at phone width then nothing overflows sideways', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: await operator.storageState() });
    try {
      const p = await phone.newPage();
      const repo = world.repos[0]!;
      const reader = new URL(world.github.deployments(repo).find((d) => d.environment === world.names(FAILED_PR).githubEnvironment)!.statuses.at(-1)!.logUrl!);
      const pages: [string, string][] = [
        ['11-phone-environments', '/ui'],
        ['12-phone-environment', `/ui/environments/${repo}/${FAILED_PR}`],
        ['13-phone-queue', '/ui/queue'],
        ['14-phone-reader', `${reader.pathname}${reader.search}`],
      ];
      for (const [name, path] of pages) {
        await p.goto(`${daemon.url}${path}`);
        expect([name, new URL(p.url()).pathname]).toEqual([name, path.split('?')[0]]);
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect([name, overflow]).toEqual([name, 0]);
        await shoot(p, name);
      }
    } finally {
      await phone.close();
    }
  });

  it('when the operator signs out then the session is over', async () => {
    await page.goto(`${daemon.url}/ui`);
    await page.click('button:text("Sign out")');
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    await page.goto(`${daemon.url}/ui/queue`);
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
  });
});
