// The dashboard's pages: pure functions from view data to HTML. Every value goes
// through `html` (escaped); links through `safeHref`. Two audiences share the
// environment page: operators (signed in) and a PR's readers (signed link), who get
// no navigation, no resource names, no links into Nomad or Consul and no actions.
import { keyString } from '../environments/naming.js';
import { shortSha } from '../environments/report.js';
import type { EnvironmentEvent } from '../environments/types.js';
import type { GcAction, GcPlan } from '../gc/types.js';
import type { ParkedJob, PendingJob, QueueCounts } from '../queue/reconcile-queue.js';
import { html, safeHref, type SafeHtml } from './html.js';
import type { ComponentLive } from './live-components.js';
import { relativeTime, type EnvironmentSummary } from './view-model.js';

export type Section = 'environments' | 'queue' | 'gc';

export type Chrome =
  | { audience: 'operator'; section?: Section; csrf: string }
  | { audience: 'reader'; subject: string }
  | { audience: 'anonymous' };

export const UI_BASE = '/ui';
export const STYLESHEET_PATH = '/ui/assets/app.css';

function environmentPath(key: { repo: string; pr: number }): string {
  const [owner, name] = key.repo.split('/');
  return `${UI_BASE}/environments/${encodeURIComponent(owner ?? '')}/${encodeURIComponent(name ?? '')}/${key.pr}`;
}

function when(at: Date | null, now: Date): SafeHtml {
  if (!at) return html`<span class="muted">—</span>`;
  return html`<time datetime="${at.toISOString()}" title="${at.toISOString()}">${relativeTime(at, now)}</time>`;
}

function badge(state: string): SafeHtml {
  return html`<span class="badge s-${state.replace(/[^a-z_]/g, '')}">${state.replace(/_/g, ' ')}</span>`;
}

function sha(value: string | null): SafeHtml {
  return value ? html`<code class="nowrap" title="${value}">${shortSha(value)}</code>` : html`<span class="muted">—</span>`;
}

function csrfField(csrf: string): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

function header(chrome: Chrome): SafeHtml {
  if (chrome.audience === 'operator') {
    const link = (section: Section, href: string, label: string) =>
      html`<a href="${href}" class="${chrome.section === section ? 'current' : ''}">${label}</a>`;
    return html`<header class="top"><div class="bar">
      <a class="brand" href="${UI_BASE}">previewd <span>dashboard</span></a>
      <nav>${link('environments', UI_BASE, 'Environments')}${link('queue', `${UI_BASE}/queue`, 'Queue')}${link('gc', `${UI_BASE}/gc`, 'GC')}</nav>
      <form method="post" action="${UI_BASE}/sign-out">${csrfField(chrome.csrf)}<button class="ghost" type="submit">Sign out</button></form>
    </div></header>`;
  }
  if (chrome.audience === 'reader') {
    return html`<header class="top"><div class="bar"><span class="brand">previewd <span>preview</span></span><span class="readonly">Read-only view of ${chrome.subject}</span></div></header>`;
  }
  return html`<header class="top"><div class="bar"><span class="brand">previewd <span>dashboard</span></span></div></header>`;
}

function layout(chrome: Chrome, title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · previewd</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
${header(chrome)}
<main>
${body}
</main>
</body>
</html>
`.value;
}

export function signInPage(input: { csrf: string; failed: boolean }): string {
  return layout(
    { audience: 'anonymous' },
    'Sign in',
    html`<div class="signin panel">
      <h1>Sign in</h1>
      ${input.failed ? html`<div class="notice bad" role="alert">That is not the admin token.</div>` : null}
      <form method="post" action="${UI_BASE}/sign-in">
        ${csrfField(input.csrf)}
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
        <button class="primary" type="submit">Sign in</button>
      </form>
      <p class="muted small">The value of PREVIEWD_ADMIN_TOKEN. PR readers need no sign-in: the link on their pull request opens its page.</p>
    </div>`,
  );
}

function shaCell(s: EnvironmentSummary): SafeHtml {
  if (!s.pendingSha) return sha(s.sha);
  if (!s.sha) return html`${sha(s.pendingSha)}<div class="small muted">not running yet</div>`;
  return html`${sha(s.sha)}<div class="small muted nowrap">→ ${sha(s.pendingSha)}</div>`;
}

function statusCell(s: EnvironmentSummary): SafeHtml {
  const cut = s.reason.length > 160;
  return html`${badge(s.status)}<div class="reason ${s.failing ? 'bad' : ''}" title="${cut ? s.reason : null}">${cut ? `${s.reason.slice(0, 159)}…` : s.reason}</div>`;
}

function urlList(s: EnvironmentSummary): SafeHtml {
  if (s.urls.length === 0) return html`<span class="muted">—</span>`;
  return html`${s.urls.map((u) => html`<div class="nowrap"><span class="muted small">${u.component}</span> <a href="${safeHref(u.url)}" rel="noreferrer">${new URL(u.url).host}</a></div>`)}`;
}

function componentChips(components: EnvironmentSummary['components']): SafeHtml {
  if (components.length === 0) return html`<span class="muted">—</span>`;
  return html`<div class="chips">${components.map((c) => html`<span class="badge s-${c.state.replace(/[^a-z_]/g, '')}" title="${c.name}: ${c.state}">${c.name}</span>`)}</div>`;
}

function labelChips(labels: string[]): SafeHtml | null {
  if (labels.length === 0) return null;
  return html`<div class="chips labels">${labels.map((l) => html`<span class="label">${l}</span>`)}</div>`;
}

/** The PR's title and branch: attacker-written, so only ever interpolated (escaped), and cut for the list. */
function prText(s: EnvironmentSummary): SafeHtml | null {
  if (s.title === null && s.branch === null) return null;
  const title = s.title !== null && s.title.length > 90 ? `${s.title.slice(0, 89)}…` : s.title;
  return html`${title !== null ? html`<div class="title" title="${s.title}">${title}</div>` : null}${s.branch !== null ? html`<div><code class="branch">${s.branch}</code></div>` : null}`;
}

function expiry(s: EnvironmentSummary, now: Date): SafeHtml {
  if (s.keptBy) return html`<span class="muted">kept (${s.keptBy})</span>`;
  return when(s.expiresAt, now);
}

export function environmentsPage(input: { chrome: Chrome; environments: EnvironmentSummary[]; now: Date }): string {
  const { now } = input;
  const live = input.environments.filter((e) => e.status !== 'removed').length;
  const rows = input.environments.map(
    (s) => html`<tr>
      <td data-label="Repo"><div class="cell"><span class="nowrap">${s.key.repo}</span>${labelChips(s.labels)}</div></td>
      <td data-label="PR"><div class="cell"><span class="nowrap"><a href="${environmentPath(s.key)}">#${s.key.pr}</a> <a class="small" href="${safeHref(s.githubUrl)}" rel="noreferrer">GitHub ↗</a></span>${prText(s)}</div></td>
      <td data-label="Status"><div class="cell">${statusCell(s)}</div></td>
      <td data-label="SHA"><div class="cell">${shaCell(s)}</div></td>
      <td data-label="URLs"><div class="cell">${urlList(s)}</div></td>
      <td data-label="Age" class="num"><div class="cell">${when(s.createdAt, now)}</div></td>
      <td data-label="Last push" class="num"><div class="cell">${when(s.lastPushAt, now)}</div></td>
      <td data-label="Expires" class="num"><div class="cell">${expiry(s, now)}</div></td>
      <td data-label="Components"><div class="cell">${componentChips(s.components)}</div></td>
    </tr>`,
  );
  return layout(
    input.chrome,
    'Environments',
    html`<h1>Environments <span class="sub">${live} live, ${input.environments.length} known</span></h1>
    <div class="panel flush">
      ${rows.length === 0
        ? html`<p class="empty">No environments yet. One appears when a pull request of a configured repository opens.</p>`
        : html`<table class="stack"><thead><tr><th>Repo</th><th>PR</th><th>Status</th><th>SHA</th><th>URLs</th><th>Age</th><th>Last push</th><th>Expires</th><th>Components</th></tr></thead><tbody>${rows}</tbody></table>`}
    </div>`,
  );
}

export interface ComponentView {
  name: string;
  state: string;
  jobId: string;
  live: ComponentLive;
  /** Operators only, when the UI base URLs are configured. */
  nomadUrl: string | null;
  consulUrl: string | null;
}

export interface EnvironmentPageInput {
  chrome: Chrome;
  summary: EnvironmentSummary;
  events: EnvironmentEvent[];
  components: ComponentView[];
  /** Names of what previewd made for this PR (operators only); never values. */
  resources: { label: string; name: string }[] | null;
  now: Date;
}

function componentSection(c: ComponentView, now: Date): SafeHtml {
  const d = c.live.deployment;
  return html`<div class="component">
    <header>
      <strong>${c.name}</strong> ${badge(c.state)}
      <code class="muted">${c.jobId}</code>
      ${c.nomadUrl ? html`<a class="small" href="${safeHref(c.nomadUrl)}" rel="noreferrer">Nomad ↗</a>` : null}
      ${c.consulUrl ? html`<a class="small" href="${safeHref(c.consulUrl)}" rel="noreferrer">Consul ↗</a>` : null}
    </header>
    ${c.live.error
      ? html`<div class="reason bad">${c.live.error}</div>`
      : html`<div class="small">Deployment: ${d ? html`${badge(d.status)} <span class="muted">v${d.jobVersion} · ${d.description}</span>` : html`<span class="muted">none</span>`}
        ${c.live.allocations.length > 0 ? html` · Allocations: ${c.live.allocations.map((a) => html`<code title="job v${a.jobVersion}">${a.id}</code> ${badge(a.clientStatus)} `)}` : null}</div>
        ${c.live.events.length > 0
          ? html`<ul class="events">${c.live.events.map(
              (e) => html`<li><span class="muted">${when(e.at, now)}</span><span><code>${e.task}</code> ${e.type}</span><span class="msg">${e.message}</span></li>`,
            )}</ul>`
          : null}`}
  </div>`;
}

function timeline(events: EnvironmentEvent[], now: Date): SafeHtml {
  if (events.length === 0) return html`<p class="empty">No events recorded.</p>`;
  return html`<ol class="timeline">${events.map(
    (e) => html`<li class="${/fail|error/.test(e.type) ? 'failed' : ''}"><span class="muted small nowrap">${e.at.toISOString().replace('T', ' ').slice(0, 19)} · ${when(e.at, now)}</span><span class="type">${e.type}</span><span>${e.message}</span></li>`,
  )}</ol>`;
}

export function environmentPage(input: EnvironmentPageInput): string {
  const { summary: s, now } = input;
  const title = `${keyString(s.key)}`;
  const facts = html`<dl class="facts">
    <dt>Status</dt><dd>${s.failing ? badge(s.status) : statusCell(s)}</dd>
    <dt>Pull request</dt><dd><a href="${safeHref(s.githubUrl)}" rel="noreferrer">${s.key.repo}#${s.key.pr} on GitHub ↗</a>${labelChips(s.labels)}</dd>
    <dt>Title</dt><dd>${s.title ?? html`<span class="muted">—</span>`}</dd>
    <dt>Branch</dt><dd>${s.branch !== null ? html`<code class="branch">${s.branch}</code>` : html`<span class="muted">—</span>`}</dd>
    <dt>Commit</dt><dd>${shaCell(s)}</dd>
    <dt>URLs</dt><dd>${s.urls.length === 0 ? html`<span class="muted">—</span>` : s.urls.map((u) => html`<div><span class="muted small">${u.component}</span> <a href="${safeHref(u.url)}" rel="noreferrer">${u.url}</a></div>`)}</dd>
    <dt>Created</dt><dd>${when(s.createdAt, now)}</dd>
    <dt>Last push</dt><dd>${when(s.lastPushAt, now)}</dd>
    <dt>Ready since</dt><dd>${when(s.readyAt, now)}</dd>
    <dt>Expires</dt><dd>${expiry(s, now)}</dd>
  </dl>`;
  const resources = input.resources
    ? html`<div class="panel"><h2>Resources <span class="sub">names only</span></h2><dl class="facts">${input.resources.map((r) => html`<dt>${r.label}</dt><dd><code>${r.name}</code></dd>`)}</dl></div>`
    : null;
  return layout(
    input.chrome,
    title,
    html`<h1>${s.key.repo} <span class="sub">#${s.key.pr}</span> ${badge(s.status)}</h1>
    ${s.failing ? html`<pre class="error banner" role="alert">${s.reason}</pre>` : null}
    <div class="grid">
      <div class="panel"><h2>Environment <span class="sub"><code>${s.envId}</code></span></h2>${facts}</div>
      ${resources}
    </div>
    <div class="panel flush"><h2>Components</h2>${input.components.length === 0 ? html`<p class="empty">No components deployed.</p>` : input.components.map((c) => componentSection(c, now))}</div>
    <div class="panel flush"><h2>Timeline <span class="sub">newest first</span></h2>${timeline(input.events, now)}</div>`,
  );
}

export function queuePage(input: { chrome: Chrome & { audience: 'operator' }; counts: QueueCounts; pending: PendingJob[]; parked: ParkedJob[]; now: Date; notice: string | null }): string {
  const { counts, now } = input;
  const tile = (n: number, label: string, bad = false) => html`<div class="tile ${bad && n > 0 ? 'bad' : ''}"><div class="n">${n}</div><div class="t">${label}</div></div>`;
  const envLink = (key: { repo: string; pr: number }) => html`<a href="${environmentPath(key)}">${keyString(key)}</a>`;
  const pending = input.pending.map(
    (j) => html`<tr><td data-label="Environment"><div class="cell">${envLink(j.key)}</div></td><td data-label="State"><div class="cell">${badge(j.state)}</div></td><td data-label="Reason"><div class="cell">${j.reason}</div></td><td data-label="Queued" class="num"><div class="cell">${when(j.enqueuedAt, now)}</div></td><td data-label="Attempts" class="num"><div class="cell">${j.attemptsMade}</div></td></tr>`,
  );
  const parked = input.parked.map(
    (j) => html`<tr>
      <td data-label="Environment"><div class="cell">${envLink(j.key)}<div class="small muted">job <code>${j.jobId}</code></div></div></td>
      <td data-label="Error"><div class="cell"><pre class="error">${j.lastError}</pre><div class="small muted">reason: ${j.reason}</div></div></td>
      <td data-label="Attempts" class="num"><div class="cell">${j.attemptsMade}</div></td>
      <td data-label="Parked" class="num"><div class="cell">${when(j.failedAt, now)}</div></td>
      <td data-label=""><div class="cell"><form method="post" action="${UI_BASE}/queue/parked/${encodeURIComponent(j.jobId)}/retry">${csrfField(input.chrome.csrf)}<button class="primary" type="submit">Retry</button></form></div></td>
    </tr>`,
  );
  return layout(
    input.chrome,
    'Queue',
    html`<h1>Queue</h1>
    ${input.notice ? html`<div class="notice ok" role="status">${input.notice}</div>` : null}
    <div class="tiles">${tile(counts.waiting, 'waiting')}${tile(counts.active, 'running')}${tile(counts.delayed, 'delayed')}${tile(counts.parked, 'parked', true)}${tile(counts.completed, 'completed')}</div>
    <div class="panel flush"><h2>Waiting and running</h2>
      ${pending.length === 0 ? html`<p class="empty">Nothing waiting or running.</p>` : html`<table class="stack"><thead><tr><th>Environment</th><th>State</th><th>Reason</th><th>Queued</th><th>Attempts</th></tr></thead><tbody>${pending}</tbody></table>`}
    </div>
    <div class="panel flush"><h2>Parked <span class="sub">failed for good or out of retries; a retry runs the PR's reconcile again</span></h2>
      ${parked.length === 0 ? html`<p class="empty">Nothing parked.</p>` : html`<table class="stack"><thead><tr><th>Environment</th><th>Error</th><th>Attempts</th><th>Parked</th><th></th></tr></thead><tbody>${parked}</tbody></table>`}
    </div>`,
  );
}

function gcRow(action: GcAction): SafeHtml {
  if (action.kind === 'teardown') {
    return html`<tr><td data-label="Action"><div class="cell"><span class="badge s-degraded">teardown</span></div></td><td data-label="Subject"><div class="cell"><a href="${environmentPath(action.key)}">${keyString(action.key)}</a></div></td><td data-label="Reason"><div class="cell">${action.reason}</div></td><td data-label="Detail"><div class="cell">${action.detail}</div></td></tr>`;
  }
  return html`<tr><td data-label="Action"><div class="cell"><span class="badge s-failed">orphan</span></div></td><td data-label="Subject"><div class="cell"><code>${action.envId}</code></div></td><td data-label="Reason"><div class="cell">orphan</div></td><td data-label="Detail"><div class="cell">${action.detail}<ul class="events">${action.resources.map((r) => html`<li><span class="muted">${r.kind}</span><code class="msg">${r.name}</code></li>`)}</ul></div></td></tr>`;
}

export function gcPage(input: { chrome: Chrome & { audience: 'operator' }; plan: GcPlan; applied: { done: number; failed: string[] } | null }): string {
  const { plan, applied } = input;
  const heading = applied ? 'GC applied' : 'GC plan (dry run)';
  return layout(
    input.chrome,
    'GC',
    html`<h1>${heading}</h1>
    ${applied
      ? html`<div class="notice ${applied.failed.length > 0 ? 'bad' : 'ok'}" role="status">Applied: ${applied.done} queued for removal${applied.failed.length > 0 ? html`; ${applied.failed.length} failed: ${applied.failed.join('; ')}` : null}.</div>`
      : null}
    <div class="panel flush"><h2>${applied ? 'What was planned' : 'What a sweep would remove now'}</h2>
      ${plan.actions.length === 0
        ? html`<p class="empty">Nothing to remove.</p>`
        : html`<table class="stack"><thead><tr><th>Action</th><th>Subject</th><th>Reason</th><th>Detail</th></tr></thead><tbody>${plan.actions.map(gcRow)}</tbody></table>`}
    </div>
    ${plan.skipped.length > 0
      ? html`<div class="panel flush"><h2>Left alone</h2><table class="stack"><thead><tr><th>Subject</th><th>Why</th></tr></thead><tbody>${plan.skipped.map((s) => html`<tr><td data-label="Subject"><div class="cell">${s.subject}</div></td><td data-label="Why"><div class="cell">${s.reason}</div></td></tr>`)}</tbody></table></div>`
      : null}
    ${applied
      ? html`<p><a href="${UI_BASE}/gc">Plan again</a></p>`
      : html`<form method="post" action="${UI_BASE}/gc" class="actions">${csrfField(input.chrome.csrf)}<button class="danger" type="submit"${plan.actions.length === 0 ? html` disabled` : null}>Apply this plan</button><span class="muted small">The sweep plans again when applied; environments are torn down through the queue.</span></form>`}`,
  );
}

export function messagePage(chrome: Chrome, title: string, message: string): string {
  return layout(chrome, title, html`<div class="panel"><h1>${title}</h1><p>${message}</p></div>`);
}
