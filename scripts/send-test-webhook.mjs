#!/usr/bin/env node
// Sends one signed test webhook to a running previewd, as GitHub would: a `ping`, or a
// `pull_request` event built from the flags. Signs the exact body bytes with
// HMAC-SHA256 and $GITHUB_WEBHOOK_SECRET (never printed). Used by send-test-webhook.sh.
import { createHmac, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080/webhooks/github' },
    event: { type: 'string', default: 'ping' },
    action: { type: 'string', default: 'opened' },
    repo: { type: 'string' },
    pr: { type: 'string' },
    sha: { type: 'string' },
    base: { type: 'string', default: 'main' },
    label: { type: 'string', multiple: true, default: [] },
  },
});

const secret = process.env.GITHUB_WEBHOOK_SECRET;
if (!secret) {
  process.stderr.write('GITHUB_WEBHOOK_SECRET is not set\n');
  process.exit(2);
}

let payload;
if (values.event === 'ping') {
  payload = { zen: 'Keep it logically awesome.', hook_id: 1, hook: { type: 'Repository', events: ['pull_request'] } };
} else if (values.event === 'pull_request') {
  const pr = Number(values.pr);
  if (!values.repo || !Number.isInteger(pr) || pr < 1 || !/^[0-9a-f]{40}$/.test(values.sha ?? '')) {
    process.stderr.write('pull_request needs --repo owner/name --pr N --sha <40 hex>\n');
    process.exit(2);
  }
  const repo = { full_name: values.repo };
  payload = {
    action: values.action,
    number: pr,
    pull_request: {
      number: pr,
      state: values.action === 'closed' ? 'closed' : 'open',
      draft: false,
      merged: false,
      updated_at: new Date().toISOString(),
      labels: values.label.map((name) => ({ name })),
      head: { sha: values.sha, ref: `test-${pr}`, repo },
      base: { ref: values.base, repo },
    },
    repository: repo,
    sender: { login: 'previewd-test', type: 'User' },
  };
} else {
  process.stderr.write('--event must be ping or pull_request\n');
  process.exit(2);
}

const body = JSON.stringify(payload);
const delivery = randomUUID();
const res = await fetch(values.url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/previewd-test',
    'x-github-event': values.event,
    'x-github-delivery': delivery,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  },
  body,
});
process.stdout.write(`delivery ${delivery}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}\n`);
process.exit(res.status >= 200 && res.status < 300 ? 0 : 1);
