// The Handlebars engine: one isolated instance per templates directory, strict
// (an unknown variable is an error, never ""), no HTML escaping (the output is HCL),
// only our helpers. Every error names the template file and line.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import Handlebars from 'handlebars';
import { UserError } from '../errors.js';
import { hclIdentifier, hclList, hclValue } from './hcl.js';

/** A template problem with its place: "api.nomad.hcl.hbs:12: unknown variable "x"". */
export class TemplateError extends UserError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
    cause?: unknown,
  ) {
    super(`${file}:${line}: ${reason}`, { system: 'templates', cause });
    this.name = 'TemplateError';
  }
}

type HandlebarsEnv = ReturnType<typeof Handlebars.create>;
export type CompiledTemplate = (context: object) => string;

const HELPERS = ['hcl', 'hclList', 'hclName'] as const;
const COMPILE_OPTIONS = {
  strict: true,
  noEscape: true,
  knownHelpersOnly: true,
  // Gives helpers the source path of each argument (options.ids), for error messages.
  trackIds: true,
  knownHelpers: Object.fromEntries(HELPERS.map((h) => [h, true])),
} as CompileOptions; // trackIds is a real compile option missing from the typings
type CompileOptions = Parameters<typeof Handlebars.compile>[1];

interface Located {
  templateFile?: string;
  lineNumber?: number;
  message: string;
}

// Handlebars puts " - line:column" at the end of located messages and
// "Parse error on line N:" plus a source excerpt in parse errors.
function locate(err: unknown, fallbackFile: string, source: string | undefined): TemplateError {
  if (err instanceof TemplateError) return err;
  const e = err as Located;
  const file = e.templateFile ?? fallbackFile;
  let line = typeof e.lineNumber === 'number' ? e.lineNumber : undefined;
  let reason = String(e.message ?? err).replace(/ - \d+:\d+$/, '');
  const parse = /^Parse error on line (\d+):[\s\S]*\n(.*)$/.exec(reason);
  if (parse) {
    line = Number(parse[1]);
    reason = `syntax error: ${parse[2]}`;
  }
  const partial = /^The partial (\S+) could not be found/.exec(reason);
  if (partial && line === undefined && source !== undefined) {
    const at = source.split('\n').findIndex((l) => new RegExp(`\\{\\{~?>\\s*${partial[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(l));
    if (at >= 0) line = at + 1;
    reason = `unknown partial "${partial[1]}"`;
  }
  reason = reason.replace(/^"(.+)" not defined in .*$/s, 'unknown variable "$1"');
  return new TemplateError(file, line ?? 1, reason, err);
}

function createEnvironment(): HandlebarsEnv {
  const hb = Handlebars.create();
  const located = (fn: (...args: unknown[]) => string) =>
    function (this: unknown, ...args: unknown[]) {
      const options = args[args.length - 1] as { loc?: unknown; name?: string; ids?: unknown[] };
      const params = args.slice(0, -1);
      const missing = params.findIndex((p) => p === undefined);
      if (missing >= 0) {
        const id = options.ids?.[missing];
        throw new hb.Exception(`unknown variable ${typeof id === 'string' ? `"${id}"` : `(argument ${missing + 1} of ${options.name})`}`, options as never);
      }
      try {
        return fn(...params);
      } catch (err) {
        throw new hb.Exception(`${options.name ?? 'helper'}: ${(err as Error).message}`, options as never);
      }
    };
  hb.registerHelper('hcl', located((value) => hclValue(value, 'value')));
  hb.registerHelper('hclList', located((values) => hclList(values, 'list')));
  hb.registerHelper('hclName', located((value) => hclIdentifier(value, 'name')));
  // Strict mode does not cover block parameters: {{#if missing}} and {{#each missing}}
  // would quietly render nothing. Refuse undefined there too.
  for (const name of ['if', 'unless', 'each', 'with'] as const) {
    const builtin = hb.helpers[name] as (this: unknown, ...args: unknown[]) => unknown;
    hb.registerHelper(name, function (this: unknown, ...args: unknown[]) {
      const options = args[args.length - 1] as { loc?: unknown };
      if (args.length < 2 || args[0] === undefined) throw new hb.Exception(`#${name}: unknown variable`, options as never);
      return builtin.apply(this, args);
    });
  }
  return hb;
}

async function listHbs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.hbs')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UserError(`templates directory ${dir} cannot be read`, { system: 'templates', cause: err });
  }
}

export interface Engine {
  /** Compiles a template file once; rendering errors are TemplateErrors naming it. */
  compileFile(path: string): Promise<CompiledTemplate>;
  compileSource(file: string, source: string): CompiledTemplate;
}

/**
 * An engine whose partials come from each of `partialDirs` in order (later ones
 * override earlier ones with the same name: a repo's own partials win over the shared ones).
 */
export async function createEngine(partialDirs: string[]): Promise<Engine> {
  const hb = createEnvironment();
  const compileSource = (file: string, source: string): CompiledTemplate => {
    let template: HandlebarsTemplateDelegate;
    try {
      template = hb.compile(source, COMPILE_OPTIONS);
    } catch (err) {
      throw locate(err, file, source);
    }
    return (context: object) => {
      try {
        // Partials indent every line they emit, blank ones included; drop that noise.
        return template(context).replace(/^[ \t]+$/gm, '');
      } catch (err) {
        throw locate(err, file, source);
      }
    };
  };
  for (const dir of partialDirs) {
    for (const name of await listHbs(dir)) {
      const path = join(dir, name);
      const source = await readFile(path, 'utf8');
      const display = `${basename(dir)}/${name}`;
      let compiled: HandlebarsTemplateDelegate;
      try {
        compiled = hb.compile(source, COMPILE_OPTIONS);
      } catch (err) {
        throw locate(err, display, source);
      }
      // Errors raised inside a partial carry the partial's file, not the caller's.
      const partial = (context: unknown, options: unknown) => {
        try {
          return compiled(context, options as never);
        } catch (err) {
          const e = err as Located;
          if (e && typeof e === 'object' && !(err instanceof TemplateError) && e.templateFile === undefined) {
            const parse = /^Parse error on line (\d+):/.exec(String(e.message));
            if (parse) e.lineNumber = Number(parse[1]);
            e.templateFile = display;
          }
          throw err;
        }
      };
      hb.registerPartial(name.replace(/\.hbs$/, ''), partial as never);
    }
  }
  return {
    compileSource,
    async compileFile(path) {
      let source: string;
      try {
        source = await readFile(path, 'utf8');
      } catch (err) {
        throw new UserError(`template ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { system: 'templates', cause: err });
      }
      return compileSource(basename(path), source);
    },
  };
}
