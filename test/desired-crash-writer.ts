// Records desired-state facts in a child process that test/desired-batch.test.ts
// SIGKILLs mid-stream, to show that a crash in the middle of group commits loses no
// acknowledged fact and that redelivering the rest converges. Facts come as JSON on
// FACTS (dates as ISO strings); each answer is printed as one line the moment its
// promise settles ("ack <index> <json>"), before anything else of this process runs.
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { createEnvironmentStore } from '../src/environments/store.js';
import type { DesiredInput } from '../src/environments/types.js';

const { DATABASE_URL, SCHEMA, FACTS, BATCH_MAX } = process.env;
if (!DATABASE_URL || !SCHEMA || !FACTS) throw new Error('DATABASE_URL, SCHEMA and FACTS are required');
const facts = (JSON.parse(readFileSync(FACTS, 'utf8')) as { key: { repo: string; pr: number }; input: DesiredInput & { prUpdatedAt: string } }[]).map((f) => ({
  key: f.key,
  input: { ...f.input, prUpdatedAt: new Date(f.input.prUpdatedAt) },
}));
const store = createEnvironmentStore({ databaseUrl: DATABASE_URL, schema: SCHEMA, log: pino({ level: 'silent' }), desiredBatchMax: Number(BATCH_MAX ?? 4) });
// Waves of a few facts a turn apart, so the kill lands among commits in flight.
for (let i = 0; i < facts.length; i++) {
  const { key, input } = facts[i]!;
  store.recordDesired(key, input).then(
    (r) => process.stdout.write(`ack ${i} ${JSON.stringify(r)}\n`),
    (err: Error) => process.stdout.write(`ack ${i} ${JSON.stringify({ error: err.message })}\n`),
  );
  if (i % 3 === 2) await new Promise((r) => setTimeout(r, 2));
}
