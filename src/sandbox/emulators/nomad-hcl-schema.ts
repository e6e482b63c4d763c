// The jobspec2 body schema, so the emulator refuses what /v1/jobs/parse refuses: an
// attribute where the Go struct declares a block (and the reverse), unknown arguments and
// blocks, missing labels and required arguments — with hcl's own diagnostic texts.
//
// Schema: the `hcl:"…"` tags of hashicorp/nomad api/*.go (jobs.go Job/UpdateStrategy,
// tasks.go TaskGroup/Task/Template/Vault/WorkloadIdentity/RestartPolicy/ReschedulePolicy/
// EphemeralDisk/TaskLifecycle/LogConfig, services.go Service/ServiceCheck/CheckRestart,
// resources.go Resources/NetworkResource/Port/DNSConfig, consul.go Consul,
// constraint.go Constraint). `name,block` is a block, `name,optional` an attribute,
// `name` (no flag) a required attribute, `,label` a block label.
// jobspec2 special cases (jobspec2/types.config.go decodeJob, hcl_conversions.go
// decodeTaskGroup/decodeTask/decodeAsAttribute): `meta` may also be an attribute at job,
// group and task level, `env` at task level; `vault`/`secret`/`task` blocks are accepted at
// job level and `vault`/`secret` at group level; `config` is the driver's (any content).
// Texts: hashicorp/hcl hclsyntax/structure.go (Body.Content, PartialContent,
// JustAttributes) and hcl.Diagnostic.Error() "<range>: <summary>; <detail>".

type Kind = 'attr' | 'block';

interface BlockSchema {
  /** Attribute names; `true` = required (a tag without `optional`). */
  attrs?: Record<string, boolean>;
  /** Nested block types → [label names, schema]. */
  blocks?: Record<string, [string[], BlockSchema]>;
  /** A map[string]string decoded with JustAttributes: any attribute, no block. */
  anyAttributes?: boolean;
  /** Driver config: jobspec2 keeps the body opaque for the task driver (hclutil.BlocksAsAttrs). */
  opaque?: boolean;
  /** jobspec2's decodeAsAttribute: these names may be an attribute or a block. */
  attrOrBlock?: string[];
}

const opt = (...names: string[]) => Object.fromEntries(names.map((n) => [n, false]));
const stringMap: BlockSchema = { anyAttributes: true };

// api/constraint.go Constraint
const constraint: BlockSchema = { attrs: opt('attribute', 'value', 'operator') };
// api/tasks.go Affinity
const affinity: BlockSchema = { attrs: opt('attribute', 'value', 'operator', 'weight') };
// api/tasks.go Spread / SpreadTarget
const spread: BlockSchema = { attrs: opt('attribute', 'weight'), blocks: { target: [['value'], { attrs: opt('percent') }] } };
// api/jobs.go UpdateStrategy
const update: BlockSchema = {
  attrs: opt('stagger', 'max_parallel', 'health_check', 'min_healthy_time', 'healthy_deadline', 'progress_deadline', 'canary', 'auto_revert', 'auto_promote'),
};
// api/tasks.go RestartPolicy
const restart: BlockSchema = { attrs: opt('interval', 'attempts', 'delay', 'mode', 'render_templates') };
// api/tasks.go ReschedulePolicy
const reschedule: BlockSchema = { attrs: opt('attempts', 'interval', 'delay', 'delay_function', 'max_delay', 'unlimited') };
// api/tasks.go WorkloadIdentity
const identity: BlockSchema = {
  attrs: opt('name', 'aud', 'change_mode', 'change_signal', 'env', 'file', 'filepath', 'service_name', 'ttl', 'extra_claims'),
};
// api/consul.go Consul
const consul: BlockSchema = { attrs: opt('namespace', 'cluster', 'partition') };
// api/tasks.go Vault
const vault: BlockSchema = {
  attrs: opt('policies', 'role', 'namespace', 'cluster', 'env', 'disable_file', 'change_mode', 'change_signal', 'allow_token_expiration'),
};
// api/services.go CheckRestart
const checkRestart: BlockSchema = { attrs: opt('limit', 'grace', 'ignore_warnings') };
// api/services.go ServiceCheck (header is map[string][]string, a block)
const check: BlockSchema = {
  attrs: opt(
    'name', 'type', 'command', 'args', 'path', 'protocol', 'port', 'expose', 'address_mode', 'advertise', 'interval', 'timeout',
    'initial_status', 'notes', 'tls_server_name', 'tls_skip_verify', 'method', 'grpc_service', 'grpc_use_tls', 'task',
    'success_before_passing', 'failures_before_critical', 'failures_before_warning', 'body', 'on_update',
  ),
  blocks: { header: [[], stringMap], check_restart: [[], checkRestart] },
};
// api/services.go Service: meta, canary_meta and tagged_addresses are blocks here.
const service: BlockSchema = {
  attrs: opt('name', 'tags', 'canary_tags', 'enable_tag_override', 'port', 'address_mode', 'address', 'task', 'on_update', 'provider', 'cluster', 'kind'),
  blocks: {
    check: [[], check],
    check_restart: [[], checkRestart],
    connect: [[], { opaque: true }], // not used by previewd; its own large schema
    meta: [[], stringMap],
    canary_meta: [[], stringMap],
    tagged_addresses: [[], stringMap],
    identity: [[], identity],
    weights: [[], { attrs: opt('passing', 'warning') }],
  },
};
// api/resources.go Port, DNSConfig, NetworkResource
const port: BlockSchema = { attrs: opt('static', 'to', 'host_network', 'ignore_collision') };
const network: BlockSchema = {
  attrs: opt('mode', 'device', 'cidr', 'ip', 'hostname', 'mbits'),
  blocks: {
    dns: [[], { attrs: opt('servers', 'searches', 'options') }],
    reserved_ports: [['label'], port],
    port: [['label'], port],
    cni: [[], { opaque: true }],
  },
};
// api/resources.go Resources
const resources: BlockSchema = {
  attrs: opt('cpu', 'cores', 'memory', 'memory_max', 'disk', 'secrets', 'iops'),
  blocks: { network: [[], network], device: [['name'], { opaque: true }], numa: [[], { attrs: opt('affinity', 'devices') }] },
};
// api/tasks.go ChangeScript, WaitConfig, Template
const template: BlockSchema = {
  attrs: opt('source', 'destination', 'data', 'change_mode', 'change_signal', 'once', 'splay', 'perms', 'uid', 'gid', 'left_delimiter', 'right_delimiter', 'env', 'vault_grace', 'error_on_missing_key'),
  blocks: {
    change_script: [[], { attrs: { command: true, args: false, timeout: false, fail_on_error: true, run_on_first_render: false } }],
    wait: [[], { attrs: { min: true, max: true } }],
  },
};
// api/tasks.go Task (`lifecycle.hook` has no `optional`: required)
const task: BlockSchema = {
  attrs: opt('driver', 'user', 'kill_timeout', 'leader', 'shutdown_delay', 'kill_signal', 'kind'),
  attrOrBlock: ['env', 'meta'],
  blocks: {
    lifecycle: [[], { attrs: { hook: true, sidecar: false } }],
    config: [[], { opaque: true }],
    constraint: [[], constraint],
    affinity: [[], affinity],
    env: [[], stringMap],
    service: [[], service],
    resources: [[], resources],
    restart: [[], restart],
    meta: [[], stringMap],
    logs: [[], { attrs: opt('max_files', 'max_file_size', 'enabled', 'disabled') }],
    artifact: [[], { opaque: true }],
    vault: [[], vault],
    consul: [[], consul],
    template: [[], template],
    dispatch_payload: [[], { attrs: opt('file') }],
    volume_mount: [[], { opaque: true }],
    csi_plugin: [[], { opaque: true }],
    scaling: [['name'], { opaque: true }],
    secret: [['name'], { opaque: true }],
    identity: [[], identity],
    action: [['name'], { opaque: true }],
    schedule: [[], { opaque: true }],
  },
};
// api/tasks.go EphemeralDisk
const ephemeralDisk: BlockSchema = { attrs: opt('sticky', 'migrate', 'size') };
// api/tasks.go TaskGroup (+ jobspec2 decodeTaskGroup's vault and secret)
const group: BlockSchema = {
  attrs: opt('count', 'shutdown_delay', 'max_run_duration', 'stop_after_client_disconnect', 'max_client_disconnect', 'prevent_reschedule_on_lost'),
  attrOrBlock: ['meta'],
  blocks: {
    constraint: [[], constraint],
    affinity: [[], affinity],
    task: [['name'], task],
    spread: [[], spread],
    volume: [['name'], { opaque: true }],
    restart: [[], restart],
    disconnect: [[], { opaque: true }],
    reschedule: [[], reschedule],
    ephemeral_disk: [[], ephemeralDisk],
    update: [[], update],
    migrate: [[], { opaque: true }],
    network: [[], network],
    meta: [[], stringMap],
    service: [[], service],
    scaling: [[], { opaque: true }],
    consul: [[], consul],
    vault: [[], vault],
    secret: [['name'], { opaque: true }],
  },
};
// api/jobs.go Job (+ jobspec2 decodeJob's vault, secret and task)
const job: BlockSchema = {
  attrs: opt('region', 'namespace', 'id', 'name', 'type', 'priority', 'all_at_once', 'datacenters', 'node_pool'),
  attrOrBlock: ['meta'],
  blocks: {
    constraint: [[], constraint],
    affinity: [[], affinity],
    group: [['name'], group],
    update: [[], update],
    multiregion: [[], { opaque: true }],
    spread: [[], spread],
    periodic: [[], { opaque: true }],
    parameterized: [[], { opaque: true }],
    reschedule: [[], reschedule],
    migrate: [[], { opaque: true }],
    meta: [[], stringMap],
    ui: [[], { opaque: true }],
    vault: [[], vault],
    secret: [['name'], { opaque: true }],
    task: [['name'], task],
  },
};
// jobspec2/types.config.go jobConfigSchema
const root: BlockSchema = {
  blocks: { variables: [[], { opaque: true }], variable: [['name'], { opaque: true }], locals: [[], { opaque: true }], job: [['name'], job] },
};

// ---- a structural scan of the HCL text: blocks and attributes with their positions ----

interface Pos {
  line: number;
  col: number;
}
interface Item {
  kind: Kind;
  name: string;
  labels: string[];
  /** Range of the name (attribute) or type (block), as hcl reports it. */
  start: Pos;
  end: Pos;
  body?: Item[];
}

/**
 * Scans native HCL syntax into bodies of attributes and blocks (values are skipped: the
 * real parser, hcl2json, reads them). Call only on text that parses.
 */
function scanHcl(text: string): Item[] {
  let i = 0;
  let line = 1;
  let col = 1;
  const pos = (): Pos => ({ line, col });
  const advance = (n = 1) => {
    for (let k = 0; k < n && i < text.length; k++) {
      if (text[i] === '\n') {
        line += 1;
        col = 1;
      } else col += 1;
      i += 1;
    }
  };
  const skipComment = (): boolean => {
    if (text[i] === '#' || text.startsWith('//', i)) {
      while (i < text.length && text[i] !== '\n') advance();
      return true;
    }
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      advance((end < 0 ? text.length : end + 2) - i);
      return true;
    }
    return false;
  };
  const skipSpace = (newlines: boolean) => {
    for (;;) {
      if (text[i] === ' ' || text[i] === '\t' || text[i] === '\r' || (newlines && text[i] === '\n')) advance();
      else if (!skipComment()) return;
    }
  };
  const skipString = () => {
    advance(); // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') advance(2);
      else if ((text[i] === '$' || text[i] === '%') && text[i + 1] === '{') {
        advance(2);
        skipExpression('}');
        advance();
      } else advance();
    }
    advance();
  };
  const skipHeredoc = () => {
    const m = /^<<-?([A-Za-z_][A-Za-z0-9_-]*)\r?\n/.exec(text.slice(i));
    if (!m) return advance(2);
    advance(m[0].length);
    for (;;) {
      const nl = text.indexOf('\n', i);
      const current = text.slice(i, nl < 0 ? text.length : nl);
      advance(current.length + 1);
      if (current.trim() === m[1] || nl < 0) return;
    }
  };
  // Skips an expression up to (not including) `close` at depth 0; an attribute's value
  // (close '\n') also ends at its block's closing brace, as in `port "http" { to = 3000 }`.
  const skipExpression = (close: string) => {
    const stack: string[] = [];
    while (i < text.length) {
      const c = text[i]!;
      if (stack.length === 0 && (c === close || (close === '\n' && c === '}'))) return;
      if (skipComment()) continue;
      if (c === '"') skipString();
      else if (text.startsWith('<<', i)) skipHeredoc();
      else if (c === '{' || c === '[' || c === '(') {
        stack.push(c === '{' ? '}' : c === '[' ? ']' : ')');
        advance();
      } else if (stack.length > 0 && c === stack[stack.length - 1]) {
        stack.pop();
        advance();
      } else advance();
    }
  };
  const ident = () => /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(i))?.[0] ?? '';
  const body = (nested: boolean): Item[] => {
    const items: Item[] = [];
    for (;;) {
      skipSpace(true);
      if (i >= text.length || (nested && text[i] === '}')) {
        if (nested) advance();
        return items;
      }
      const start = pos();
      const name = ident();
      if (!name) {
        advance(); // not native syntax we understand; the real parser accepted it
        continue;
      }
      advance(name.length);
      const end = pos();
      skipSpace(false);
      if (text[i] === '=' && text[i + 1] !== '=') {
        advance();
        skipExpression('\n');
        items.push({ kind: 'attr', name, labels: [], start, end });
        continue;
      }
      const labels: string[] = [];
      while (i < text.length && text[i] !== '{') {
        if (text[i] === '"') {
          const from = i;
          skipString();
          labels.push(JSON.parse(text.slice(from, i)) as string);
        } else {
          const label = ident();
          if (label) {
            labels.push(label);
            advance(label.length);
          } else advance();
        }
        skipSpace(false);
      }
      advance(); // {
      items.push({ kind: 'block', name, labels, start, end, body: body(true) });
    }
  };
  return body(false);
}

// ---- checking the scan against the schema ----

export interface HclDiagnostic {
  summary: string;
  detail: string;
  start: Pos;
  end: Pos;
}

/** hcl.Range.String() for a one-line range. */
function rangeText(file: string, d: HclDiagnostic): string {
  return d.start.line === d.end.line ? `${file}:${d.start.line},${d.start.col}-${d.end.col}` : `${file}:${d.start.line},${d.start.col}-${d.end.line},${d.end.col}`;
}

/** hcl.Diagnostics.Error(): the first diagnostic, and a count of the others. */
export function diagnosticsText(file: string, diags: HclDiagnostic[]): string {
  const first = `${rangeText(file, diags[0]!)}: ${diags[0]!.summary}; ${diags[0]!.detail}`;
  return diags.length === 1 ? first : `${first}, and ${diags.length - 1} other diagnostic(s)`;
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, r) => [r, ...Array<number>(b.length).fill(0)]);
  for (let c = 1; c <= b.length; c++) d[0]![c] = c;
  for (let r = 1; r <= a.length; r++) {
    for (let c = 1; c <= b.length; c++) d[r]![c] = Math.min(d[r - 1]![c]! + 1, d[r]![c - 1]! + 1, d[r - 1]![c - 1]! + (a[r - 1] === b[c - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

/** hclsyntax nameSuggestion: the first candidate closer than 3 edits. */
function nameSuggestion(given: string, candidates: string[]): string {
  return candidates.find((c) => levenshtein(given, c) < 3) ?? '';
}

function checkBody(items: Item[], schema: BlockSchema, out: HclDiagnostic[], blockStart: Pos): void {
  if (schema.opaque) return;
  if (schema.anyAttributes) {
    // gohcl decodes a map field with Body.JustAttributes.
    const nested = items.find((it) => it.kind === 'block');
    if (nested) out.push({ summary: `Unexpected "${nested.name}" block`, detail: 'Blocks are not allowed here.', start: nested.start, end: nested.end });
    return;
  }
  const attrs = schema.attrs ?? {};
  const blocks = schema.blocks ?? {};
  const flexible = new Set(schema.attrOrBlock ?? []);
  const definedAttrs = new Set(items.filter((it) => it.kind === 'attr').map((it) => it.name));
  for (const [name, required] of Object.entries(attrs)) {
    if (required && !definedAttrs.has(name)) {
      out.push({ summary: 'Missing required argument', detail: `The argument "${name}" is required, but no definition was found.`, start: blockStart, end: blockStart });
    }
  }
  for (const it of items) {
    if (it.kind === 'attr') {
      if (it.name in attrs || flexible.has(it.name)) continue;
      const candidates = Object.keys(attrs).filter((a) => !definedAttrs.has(a));
      let suggestion = nameSuggestion(it.name, candidates);
      if (suggestion) suggestion = ` Did you mean "${suggestion}"?`;
      else if (it.name in blocks) suggestion = ` Did you mean to define a block of type "${it.name}"?`;
      out.push({ summary: 'Unsupported argument', detail: `An argument named "${it.name}" is not expected here.${suggestion}`, start: it.start, end: it.end });
      continue;
    }
    const spec = blocks[it.name];
    if (!spec) {
      let suggestion = nameSuggestion(it.name, Object.keys(blocks));
      if (suggestion) suggestion = ` Did you mean "${suggestion}"?`;
      else if (it.name in attrs) suggestion = ` Did you mean to define argument "${it.name}"? If so, use the equals sign to assign it a value.`;
      out.push({ summary: 'Unsupported block type', detail: `Blocks of type "${it.name}" are not expected here.${suggestion}`, start: it.start, end: it.end });
      continue;
    }
    const [labelNames, inner] = spec;
    if (it.labels.length > labelNames.length) {
      out.push({
        summary: `Extraneous label for ${it.name}`,
        detail: labelNames.length === 0 ? `No labels are expected for ${it.name} blocks.` : `Only ${labelNames.length} labels (${labelNames.join(', ')}) are expected for ${it.name} blocks.`,
        start: it.start,
        end: it.end,
      });
      continue;
    }
    if (it.labels.length < labelNames.length) {
      out.push({
        summary: `Missing ${labelNames[it.labels.length]} for ${it.name}`,
        detail: `All ${it.name} blocks must have ${labelNames.length} labels (${labelNames.join(', ')}).`,
        start: it.start,
        end: it.end,
      });
      continue;
    }
    checkBody(it.body ?? [], inner, out, it.start);
  }
}

/** Every schema problem of a jobspec, in source order (empty when jobspec2 would decode it). */
export function checkJobspecSchema(text: string): HclDiagnostic[] {
  const out: HclDiagnostic[] = [];
  checkBody(scanHcl(text), root, out, { line: 1, col: 1 });
  return out.sort((a, b) => a.start.line - b.start.line || a.start.col - b.start.col);
}
