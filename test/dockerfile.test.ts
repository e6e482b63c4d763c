// The container image, checked without Docker (no daemon on these machines, hadolint
// not packaged): the Dockerfile is parsed with dockerfile-ast (the parser of the
// VS Code Docker language server), its build context filtered with
// @balena/dockerignore (Docker's own .dockerignore matching rules). The HEALTHCHECK's
// command is run for real against a stub /healthz.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import dockerignore from '@balena/dockerignore';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const dockerfile = DockerfileParser.parse(readFileSync(`${ROOT}Dockerfile`, 'utf8'));
// @balena/dockerignore is CommonJS (`module.exports = factory`) while its types say
// `export default`: TypeScript (NodeNext) types the default import as the module
// object, Node hands over the function itself. Take whichever is the function.
const ignore: typeof dockerignore.default = typeof dockerignore === 'function' ? dockerignore : dockerignore.default;
const context = ignore().add(readFileSync(`${ROOT}.dockerignore`, 'utf8').split('\n'));

interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

// Instructions grouped by the FROM that starts each stage; ${ARG}s resolved.
function stages(): Stage[] {
  const out: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const line = instruction.getRange().start.line;
      const image = (instruction.getArguments()[0]?.getValue() ?? '').replace(/\$\{(\w+)\}/g, (_, name: string) => dockerfile.resolveVariable(name, line) ?? '');
      const name = instruction.getArguments()[2]?.getValue() ?? null;
      out.push({ name, image, instructions: [] });
    } else {
      out.at(-1)?.instructions.push(instruction);
    }
  }
  return out;
}

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const copiedFrom = (i: Instruction) => (i instanceof Copy ? (i.getFromFlag()?.getValue() ?? null) : null);
const jsonForm = (i: Instruction) => JSON.parse(i.getArgumentsContent() ?? 'null') as unknown;
const tracked = (): Promise<string[]> =>
  promisify(execFile)('git', ['ls-files'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }).then(({ stdout }) => stdout.split('\n').filter(Boolean));

describe('Dockerfile', () => {
  const [build, runtime, ...more] = stages();

  it('when parsed then it has a build stage and a runtime stage, both on Node 20 slim', () => {
    expect(more).toEqual([]);
    expect(build?.name).toBe('build');
    expect(runtime?.name).toBe('runtime');
    for (const stage of [build!, runtime!]) expect(stage.image).toMatch(/^node:20(\.\d+)*-(bookworm-|bullseye-)?slim$/);
  });

  it('when built then the build stage compiles and the runtime stage installs production dependencies only', () => {
    const runs = (stage: Stage) => of(stage, 'RUN').map((i) => args(i).join(' '));
    expect(runs(build!).some((r) => /^npm ci\b/.test(r))).toBe(true);
    expect(runs(build!)).toContain('npm run build');
    const install = runs(runtime!).find((r) => /^npm ci\b/.test(r));
    expect(install).toMatch(/^npm ci --omit=dev\b/);
    expect(runs(runtime!).join(' ')).not.toMatch(/npm (run build|install)\b/);
    // The compiled output comes from the build stage's working directory.
    const fromBuild = of(runtime!, 'COPY').filter((i) => copiedFrom(i) === 'build');
    const workdir = args(of(build!, 'WORKDIR')[0]!)[0]!;
    expect(fromBuild.map((i) => args(i)[0])).toEqual([posix.join(workdir, 'dist')]);
  });

  it('when run then it runs as a non-root user with previewd serve as its entry point', async () => {
    const users = of(runtime!, 'USER').map((i) => args(i)[0]!);
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.split(':')[0]!;
    expect(['root', '0', '']).not.toContain(user);
    // Exec form (JSON), so previewd is PID 1 and receives SIGTERM itself.
    expect(jsonForm(of(runtime!, 'ENTRYPOINT').at(-1)!)).toEqual(['previewd']);
    expect(jsonForm(of(runtime!, 'CMD').at(-1)!)).toEqual(['serve']);
    // The entry point is the package's bin, linked onto PATH.
    expect(of(runtime!, 'RUN').map((i) => args(i).join(' ')).join(' ')).toMatch(/ln -s \S+\/bin\/previewd\.js \/usr\/local\/bin\/previewd/);
    // …which must be executable as committed (COPY keeps the mode).
    const { stdout } = await promisify(execFile)('git', ['ls-files', '-s', 'bin/previewd.js'], { cwd: ROOT });
    expect(stdout.split(' ')[0]).toBe('100755');
  });

  it('when its HEALTHCHECK command runs then it exits 0 for /healthz 200 and 1 for anything else, without curl', async () => {
    const checks = of(runtime!, 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const content = checks[0]!.getArgumentsContent() ?? '';
    const command = JSON.parse(content.replace(/^(--\S+\s+)*CMD\s+/, '')) as string[];
    expect(command[0]).toBe('node');
    expect(command.join(' ')).not.toMatch(/\b(curl|wget)\b/);

    let status = 200;
    const paths: string[] = [];
    const server: Server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = String((server.address() as AddressInfo).port);
    const probe = () =>
      promisify(execFile)(command[0] === 'node' ? process.execPath : command[0]!, command.slice(1), { env: { PORT: port }, timeout: 15_000 }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
    try {
      expect(await probe()).toBe(0);
      status = 503;
      expect(await probe()).toBe(1);
      expect(paths).toEqual(['/healthz', '/healthz']);
    } finally {
      server.close();
    }
    // Down: nothing listens on the port any more.
    expect(await probe()).toBe(1);
  });

  it('when its COPY sources are looked up then each exists in the repo and reaches the build context', async () => {
    const files = await tracked();
    const sources = [build!, runtime!].flatMap((stage) =>
      of(stage, 'COPY')
        .filter((i) => copiedFrom(i) === null)
        .flatMap((i) => args(i).slice(0, -1)),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(() => statSync(`${ROOT}${source}`), source).not.toThrow();
      expect(context.ignores(source), `${source} is excluded by .dockerignore`).toBe(false);
      // A directory must arrive with every tracked file in it, tests excepted.
      const inside = files.filter((f) => f === source || f.startsWith(`${source}/`));
      expect(inside.length, source).toBeGreaterThan(0);
      const dropped = inside.filter((f) => context.ignores(f) && !/\.test\.ts$/.test(f));
      expect(dropped, source).toEqual([]);
    }
    // And nothing that is not needed: no .git, no node_modules, no tests, no local env files.
    for (const path of ['.git', 'node_modules', 'test/cli.test.ts', '.env', 'dist', 'src/config/load.test.ts']) {
      expect(context.ignores(path), path).toBe(true);
    }
  });
});
