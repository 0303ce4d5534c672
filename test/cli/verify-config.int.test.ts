import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/tmp.js';
import { PLUGIN_BIN } from '../support/plugin.js';

const BIN = PLUGIN_BIN;
const FIX = fileURLToPath(new URL('../fixtures/mirrord-config/', import.meta.url));
const run = (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) =>
  spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
    ...(cwd ? { cwd } : {}),
  });

describe('kubectl mirrord verify-config (offline, as the mirrord CLI)', () => {
  it('exits 0 for the document examples and prints the normalised config with -o json', () => {
    const r = run([
      'verify-config',
      join(FIX, 'basic.json'),
      join(FIX, 'complete.json'),
      join(FIX, 'complete-feature.json'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.match(/: valid$/gm)?.length, 3);
    const j = run(['verify-config', '-o', 'json', join(FIX, 'basic-template.json')], { TARGET: 'deploy/boats' });
    assert.equal(j.status, 0, j.stderr);
    const out = JSON.parse(j.stdout) as {
      type: string;
      config: { target: { path: string }; feature: { fs: { mode: string } } };
    };
    assert.equal(out.type, 'Success');
    assert.equal(out.config.target.path, 'deployment/boats');
    assert.equal(out.config.feature.fs.mode, 'read');
  });

  it('exits non-zero naming every bad path, in text and in JSON', () => {
    const dir = tempDir('verify');
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        featrue: {},
        feature: { network: { incoming: { mode: 'stael', http_filter: { header_filter: '(' } } } },
      }),
    );
    const r = run(['verify-config', bad]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /3 errors/);
    assert.match(r.stderr, /featrue: unknown field, did you mean "feature"\?/);
    assert.match(r.stderr, /feature\.network\.incoming\.mode: expected "mirror" \| "steal" \| "off", got "stael"/);
    assert.match(r.stderr, /feature\.network\.incoming\.http_filter\.header_filter: invalid regex "\("/);
    const j = run(['verify-config', '-o', 'json', bad]);
    assert.equal(j.status, 1);
    const out = JSON.parse(j.stdout) as { type: string; errors: Array<{ path: string }> };
    assert.equal(out.type, 'Fail');
    assert.deepEqual(out.errors.map((e) => e.path).sort(), [
      'featrue',
      'feature.network.incoming.http_filter.header_filter',
      'feature.network.incoming.mode',
    ]);
  });

  it('session start refuses a broken .mirrord/mirrord.json before contacting anyone', () => {
    const dir = tempDir('project');
    mkdirSync(join(dir, '.mirrord'));
    writeFileSync(join(dir, '.mirrord', 'mirrord.json'), '{"feature": {"fs": "wirte"}}');
    const r = run(['session', 'start', '--target', 'deploy/x'], { MIRRORD_GATEWAY: 'http://127.0.0.1:9' }, dir);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /\.mirrord\/mirrord\.json is not a valid mirrord config:\nfeature\.fs: expected .*got "wirte"/,
    );
  });
});
