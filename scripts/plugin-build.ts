/**
 * `npm run build:plugin`: the kubectl plugin as a developer installs it, without this repository.
 *   dist/plugin/npm/         the npm package `kubectl-mirrord` (plain JavaScript, no dependencies:
 *                            everything bundled by esbuild; each command a chunk loaded when run)
 *   dist/plugin/kubectl-mirrord-<version>.tgz    `npm pack` of it (`npm install -g` that file)
 * `--sea` adds the single executable and its krew release:
 *   dist/plugin/sea/kubectl-mirrord               Node's single-executable application (this node
 *                                                 binary with the CommonJS bundle injected)
 *   dist/plugin/kubectl-mirrord-<os>-<arch>.tar.gz   its krew archive
 *   dist/plugin/krew/mirrord.yaml                 the krew plugin manifest (`kubectl krew install
 *                                                 --manifest … --archive …`, or from an index)
 * PLUGIN_RELEASE_URL is where the archive will be downloaded from (the manifest's `uri`).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { inject } from 'postject';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(ROOT, 'cli', 'src', 'main.ts');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
};

export const PLUGIN_OUT = join(ROOT, 'dist', 'plugin');
const platform = `${process.platform}-${process.arch === 'x64' ? 'amd64' : process.arch}`;

/** shared/version.ts reads package.json at run time; the bundle carries the version instead. */
const versionInline: Plugin = {
  name: 'version-inline',
  setup(b) {
    b.onResolve({ filter: /^#shared\/version\.js$/ }, () => ({ path: 'version', namespace: 'version-inline' }));
    b.onLoad({ filter: /.*/, namespace: 'version-inline' }, () => ({
      contents: `export const VERSION = ${JSON.stringify(pkg.version)};`,
      loader: 'js',
    }));
  },
};

const common = {
  entryPoints: [ENTRY],
  bundle: true,
  platform: 'node' as const,
  target: 'node20',
  minify: true,
  legalComments: 'linked' as const,
  // ws' optional native speed-ups: it requires them in a try and runs without.
  external: ['bufferutil', 'utf-8-validate'],
  plugins: [versionInline],
  logLevel: 'warning' as const,
};

/** The npm package: ESM chunks, a `bin`, no dependencies. */
async function buildNpm(): Promise<string> {
  const dir = join(PLUGIN_OUT, 'npm');
  rmSync(dir, { recursive: true, force: true });
  await build({
    ...common,
    format: 'esm',
    splitting: true,
    outdir: join(dir, 'dist'),
    entryNames: 'kubectl-mirrord',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    // Bundled CommonJS dependencies call require(); ESM has none of its own.
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __mtCreateRequire } from 'node:module';\nconst require = __mtCreateRequire(import.meta.url);",
    },
  });
  chmodSync(join(dir, 'dist', 'kubectl-mirrord.mjs'), 0o755);
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify(
      {
        name: 'kubectl-mirrord',
        version: pkg.version,
        description: 'kubectl plugin for mirrord-teams: sessions, status, policies, audit and licence seats',
        type: 'module',
        bin: { 'kubectl-mirrord': 'dist/kubectl-mirrord.mjs' },
        files: ['dist'],
        engines: pkg.engines,
        license: 'MIT',
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(
    join(dir, 'README.md'),
    '# kubectl-mirrord\n\nThe kubectl plugin of mirrord-teams. `npm install -g kubectl-mirrord-<version>.tgz`, then ' +
      '`kubectl mirrord operator status`. It needs Node.js ' +
      `${pkg.engines.node} and nothing else.\n`,
  );
  const out = execFileSync('npm', ['pack', '--pack-destination', PLUGIN_OUT, '--json'], { cwd: dir, encoding: 'utf8' });
  const tgz = join(PLUGIN_OUT, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
  say(`npm package: ${tgz}`);
  return tgz;
}

/** The single executable: one CommonJS file injected into a copy of this node binary. */
async function buildSea(): Promise<string> {
  const dir = join(PLUGIN_OUT, 'sea');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const script = join(dir, 'kubectl-mirrord.cjs');
  await build({ ...common, format: 'cjs', outfile: script });
  const blob = join(dir, 'sea-prep.blob');
  const config = join(dir, 'sea-config.json');
  // The code cache spares V8 compiling the bundle at each start.
  writeFileSync(
    config,
    JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });
  const exe = join(dir, 'kubectl-mirrord');
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), {
    sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  });
  say(`single executable: ${exe}`);
  return exe;
}

/** The krew archive (the executable at its root) and the manifest that installs it. */
function buildKrew(exe: string): { archive: string; manifest: string } {
  const archive = join(PLUGIN_OUT, `kubectl-mirrord-${platform}.tar.gz`);
  execFileSync('tar', ['-czf', archive, '-C', dirname(exe), 'kubectl-mirrord']);
  const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
  const [os, arch] = platform.split('-');
  const base = (process.env.PLUGIN_RELEASE_URL ?? 'https://example.invalid/mirrord-teams/releases').replace(/\/$/, '');
  const manifest = join(PLUGIN_OUT, 'krew', 'mirrord.yaml');
  mkdirSync(dirname(manifest), { recursive: true });
  writeFileSync(
    manifest,
    [
      'apiVersion: krew.googlecontainertools.github.com/v1alpha2',
      'kind: Plugin',
      'metadata:',
      '  name: mirrord',
      'spec:',
      `  version: v${pkg.version}`,
      '  shortDescription: mirrord-teams sessions, status, policies, audit and seats',
      '  description: |',
      '    The kubectl plugin of mirrord-teams, the self-hosted operator for mirrord:',
      '    operator status, sessions, policy explain, audit, licence seats and Jira.',
      '  platforms:',
      '    - selector:',
      '        matchLabels:',
      `          os: ${os}`,
      `          arch: ${arch}`,
      `      uri: ${base}/v${pkg.version}/kubectl-mirrord-${platform}.tar.gz`,
      `      sha256: ${sha256}`,
      '      bin: kubectl-mirrord',
      '',
    ].join('\n'),
  );
  say(`krew: ${manifest} (archive ${archive})`);
  return { archive, manifest };
}

function say(s: string): void {
  process.stderr.write(`build:plugin: ${s}\n`);
}

export async function buildPlugin(opts: { sea?: boolean } = {}): Promise<{
  tgz: string;
  exe?: string;
  krew?: { archive: string; manifest: string };
}> {
  mkdirSync(PLUGIN_OUT, { recursive: true });
  const tgz = await buildNpm();
  if (!opts.sea) return { tgz };
  const exe = await buildSea();
  return { tgz, exe, krew: buildKrew(exe) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildPlugin({ sea: process.argv.includes('--sea') }).catch((e: unknown) => {
    say(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
