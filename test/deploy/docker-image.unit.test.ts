/**
 * The production image (issue 29), checked without a Docker daemon: the Dockerfile and
 * .dockerignore read as `docker build` reads them. What the image holds is what the final stage
 * copies from a build context that .dockerignore narrowed; every command the charts, the
 * kustomize base and docker-compose.yml run in it must find its entry and everything that entry
 * imports there, and run as a user Kubernetes' runAsNonRoot can verify.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
}
/** The stages of a Dockerfile, each its instructions (continuation lines joined, comments dropped). */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op!.toUpperCase() === 'FROM') out.push([]);
    out.at(-1)!.push({ op: op!.toUpperCase(), args: args! });
  }
  return out;
}
/** COPY's sources and destination (the JSON form or the plain one), and its --from stage if any. */
function copyOf(args: string): { from?: string; sources: string[]; dest: string } {
  const flags = [...args.matchAll(/--(\w+)=(\S+)\s*/g)];
  const rest = args.replace(/--\w+=\S+\s*/g, '').trim();
  const parts = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  const from = flags.find((f) => f[1] === 'from')?.[2];
  return { ...(from ? { from } : {}), sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

/** .dockerignore as Docker's matcher reads it: the last matching line wins, a line matching a parent folder matches. */
function contextFilter(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!');
      const glob = (include ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const re = glob
        .split('/')
        .map((seg) =>
          seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'),
        )
        .join('/');
      return { include, re: new RegExp(`^${re}$`) };
    });
  return (path) => {
    const prefixes = path.split('/').map((_, i, segs) => segs.slice(0, i + 1).join('/'));
    let kept = true;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) kept = r.include;
    return kept;
  };
}
/** Every file of the checkout `docker build .` would send (node_modules, .git and data never walked). */
function buildContext(keep: (path: string) => boolean): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      const rel = relative(ROOT, abs);
      if (['node_modules', '.git', 'data'].includes(rel)) continue;
      if (e.isDirectory()) walk(abs);
      else if (keep(rel)) files.push(rel);
    }
  };
  walk(ROOT);
  return files;
}

/** The context's files a COPY source names: itself, or what is under it (`.`: everything). */
const under = (files: string[], source: string) => {
  const s = source.replace(/^\.\/?/, '').replace(/\/$/, '');
  return files.filter((f) => !s || f === s || f.startsWith(`${s}/`));
};

const DOCKERFILE = stages(read('Dockerfile'));
const FINAL = DOCKERFILE.at(-1)!;
const CONTEXT = buildContext(contextFilter(read('.dockerignore')));
/** The image's files from the build context: each COPY source's files, at the same path under /app. */
const IMAGE = new Set(
  FINAL.filter((i) => i.op === 'COPY')
    .map((i) => copyOf(i.args))
    .filter((c) => !c.from)
    .flatMap((c) => c.sources.flatMap((s) => under(CONTEXT, s))),
);

/** `node --import tsx <entry>` in every manifest, chart template and compose service that runs the image. */
function commandsRun(): { file: string; entry: string }[] {
  const manifests = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? manifests(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
    );
  return [...manifests('deploy'), 'docker-compose.yml'].flatMap((file) =>
    [...read(file).matchAll(/\["node", "--import", "tsx", "([^"]+)"/g)].map((m) => ({ file, entry: m[1]! })),
  );
}

describe('Dockerfile: the production image holds only what runs', () => {
  it('given the build context, when .dockerignore narrows it, then no test, bench, docs or git file is sent', () => {
    assert.ok(CONTEXT.length > 0);
    const leaked = CONTEXT.filter((f) => /^(test|bench|docs|cli|dist|\.git|\.ci)\//.test(f) || f.endsWith('.md'));
    assert.deepEqual(leaked, []);
  });

  it('given the final stage, then it copies services, shared and the bootstrap script, and nothing of test or bench', () => {
    for (const needed of ['package.json', 'services/gateway/src/main.ts', 'shared/src/log/index.ts'])
      assert.ok(IMAGE.has(needed), `${needed} is not in the image`);
    assert.ok(IMAGE.has('scripts/bootstrap-secrets.ts'), 'the bootstrap Job runs scripts/bootstrap-secrets.ts');
    assert.deepEqual(
      [...IMAGE].filter((f) => /^(test|bench|cli|docs)\//.test(f) || /\.test\.ts$/.test(f)),
      [],
    );
  });

  it('given every COPY, then each source is in the build context (a source .dockerignore drops fails the build)', () => {
    for (const stage of DOCKERFILE)
      for (const c of stage.filter((i) => i.op === 'COPY').map((i) => copyOf(i.args)))
        if (!c.from)
          for (const s of c.sources)
            assert.ok(under(CONTEXT, s).length > 0, `COPY ${s}: not in the build context (.dockerignore)`);
  });

  it('given its dependencies, then only production ones are installed, from the lock file', () => {
    const runs = DOCKERFILE.flatMap((s) => s.filter((i) => i.op === 'RUN').map((i) => i.args));
    const installs = runs.filter((r) => /\bnpm (ci|install|i)\b/.test(r));
    assert.ok(installs.length > 0, 'no npm ci');
    for (const r of installs) assert.match(r, /npm ci --omit=dev/);
    const modules = FINAL.filter((i) => i.op === 'COPY').map((i) => copyOf(i.args));
    assert.ok(modules.some((c) => c.from && c.sources.includes('/app/node_modules')));
  });

  it('given the final stage, then it runs as a numeric, non-root user (runAsNonRoot can verify it)', () => {
    const user = FINAL.filter((i) => i.op === 'USER').at(-1);
    assert.ok(user, 'no USER: the image runs as root');
    const [uid, gid] = user.args.split(':');
    assert.match(uid!, /^\d+$/, `USER ${user.args} is a name; Kubernetes cannot verify a name is not root`);
    assert.notEqual(Number(uid), 0);
    if (gid !== undefined) assert.notEqual(Number(gid), 0);
    const last = FINAL.findLastIndex((i) => i.op === 'RUN' || i.op === 'COPY');
    assert.ok(FINAL.indexOf(user) > last, 'USER must follow every RUN and COPY');
  });

  it('given every command the charts, deploy/ and compose run, then its entry and all it imports are in the image', async () => {
    const commands = commandsRun();
    const cmd = FINAL.find((i) => i.op === 'CMD');
    const defaultEntry = (JSON.parse(cmd!.args) as string[]).at(-1)!;
    const entries = [...new Set([...commands.map((c) => c.entry), defaultEntry])];
    for (const name of ['gateway', 'ledger', 'agent-manager', 'policy', 'jira-reporter', 'queue-splitter', 'license-server'])
      assert.ok(entries.includes(`services/${name}/src/main.ts`), `no manifest runs ${name}`);
    for (const c of commands) assert.ok(IMAGE.has(c.entry), `${c.file} runs ${c.entry}, which the image lacks`);

    const r = await build({
      entryPoints: entries.map((e) => join(ROOT, e)),
      absWorkingDir: ROOT,
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outdir: 'out',
      logLevel: 'silent',
    });
    const local = Object.keys(r.metafile.inputs).filter((f) => !IMAGE.has(f));
    assert.deepEqual(local, [], 'files the services import that the image lacks');

    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const packages = new Set(
      Object.values(r.metafile.inputs)
        .flatMap((i) => i.imports)
        .filter((i) => i.external && !i.path.startsWith('node:') && !builtinModules.includes(i.path))
        .map((i) => i.path.split('/').slice(0, i.path.startsWith('@') ? 2 : 1).join('/')),
    );
    packages.add('tsx');
    const dev = [...packages].filter((p) => !(p in pkg.dependencies));
    assert.deepEqual(dev, [], 'packages the services load that `npm ci --omit=dev` leaves out');
  });

  it('given the image, then the folder the services write by default (./data) belongs to its user', () => {
    const user = FINAL.filter((i) => i.op === 'USER').at(-1)!.args;
    assert.ok(
      FINAL.some((i) => i.op === 'RUN' && /mkdir -p data/.test(i.args) && i.args.includes(`chown ${user} data`)),
      'the SQLite ledger and the operator CA default to ./data',
    );
  });
});
