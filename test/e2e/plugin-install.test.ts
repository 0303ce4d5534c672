import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildPlugin } from '../../scripts/plugin-build.js';
import { kubeBinaries } from '../../scripts/kube-bin.js';
import { startSystem, type System } from '../support/system.js';
import { tempDir } from '../support/tmp.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A program run as a user runs it: no repository around it, only the environment given. */
async function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  try {
    const r = await promisify(execFile)(file, args, { env, cwd, encoding: 'utf8', timeout: 60_000 });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { status: x.code ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/**
 * The plugin as a developer installs it, away from this repository: the npm package into an empty
 * prefix, the single executable with no Node.js on PATH, and krew from the plugin's manifest.
 */
describe('kubectl-mirrord installed without the repository (npm pack, single executable, krew)', () => {
  let sys: System;
  let built: Awaited<ReturnType<typeof buildPlugin>>;
  const home = tempDir('plugin-home');
  const gateway = () => ({ MIRRORD_GATEWAY: sys.url, MIRRORD_TOKEN: 'admin-token', HOME: home });

  before(async () => {
    [sys, built] = await Promise.all([startSystem(), buildPlugin({ sea: true })]);
  });
  after(async () => {
    await sys?.stop();
  });

  it('npm pack → npm install -g into an empty prefix → operator status against the gateway', async () => {
    // given the packed plugin installed into an empty prefix, offline (it has no dependencies)
    const prefix = tempDir('plugin-prefix');
    const npm = await run(
      'npm',
      ['install', '-g', '--prefix', prefix, built.tgz, '--offline', '--no-audit', '--no-fund', '--ignore-scripts'],
      { PATH: process.env.PATH, HOME: home },
      home,
    );
    assert.equal(npm.status, 0, npm.stderr);
    const pkgDir = join(prefix, 'lib', 'node_modules', 'kubectl-mirrord');
    assert.equal(existsSync(join(pkgDir, 'node_modules')), false, 'the package brought dependencies');
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.dependencies, undefined);
    // when the installed bin runs from a folder outside the repository, with only node on PATH
    const bin = join(prefix, 'bin', 'kubectl-mirrord');
    const env = { PATH: '/usr/bin:/bin', ...gateway() };
    const version = await run(bin, ['--version'], env, home);
    const status = await run(bin, ['operator', 'status'], env, home);
    // then it reports its version and the gateway's status table
    assert.equal(version.stdout.trim(), VERSION, version.stderr);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^Operator version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(status.stdout, /^Operator default namespace: /m);
  });

  it('the single executable runs operator status with no Node.js anywhere on PATH', async () => {
    // given the single executable, copied alone into an empty folder and a PATH with nothing on it
    const empty = tempDir('plugin-empty-path');
    const env = { PATH: empty, ...gateway() };
    // when it runs
    const version = await run(built.exe!, ['--version'], env, empty);
    const status = await run(built.exe!, ['operator', 'status', '-o', 'json'], env, empty);
    // then it needs nothing beside itself
    assert.equal(version.stdout.trim(), VERSION, version.stderr);
    assert.equal(status.status, 0, status.stderr);
    const o = JSON.parse(status.stdout) as { kind: string; spec: { mirrord_teams_version?: string } };
    assert.equal(o.kind, 'MirrordOperator');
    assert.equal(o.spec.mirrord_teams_version, VERSION);
  });

  it('krew installs it from the manifest and archive; kubectl finds it as `kubectl mirrord`', async () => {
    // given krew (the real one, built from its module) with a root of its own
    const krew = kubeBinaries().paths.krew;
    const root = tempDir('krew-root');
    mkdirSync(root, { recursive: true });
    const env = { PATH: `${join(root, 'bin')}:/usr/bin:/bin`, KREW_ROOT: root, HOME: home };
    // when it installs the plugin from the built manifest and archive
    const install = await run(
      krew,
      ['install', `--manifest=${built.krew!.manifest}`, `--archive=${built.krew!.archive}`],
      env,
      home,
    );
    // then the plugin is on krew's PATH and kubectl dispatches `kubectl mirrord` to it
    assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
    assert.ok(readdirSync(join(root, 'bin')).includes('kubectl-mirrord'));
    // (its receipt is what `kubectl krew upgrade/uninstall mirrord` work from)
    assert.match(readFileSync(join(root, 'receipts', 'mirrord.yaml'), 'utf8'), /^ {2}name: mirrord$/m);
    const status = await run('kubectl', ['mirrord', 'operator', 'status'], { ...env, ...gateway() }, home);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^Operator version: /m);
  });
});
