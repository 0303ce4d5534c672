import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/tmp.js';
import { PLUGIN_BIN } from '../support/plugin.js';

const BIN = PLUGIN_BIN;
const DIR = fileURLToPath(new URL('../fixtures/governance/', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
const cfg = (c: unknown) => {
  const f = join(tempDir('cfg'), 'mirrord.json');
  writeFileSync(f, JSON.stringify(c));
  return f;
};

/** `kyverno test` for mirrord: platform teams check their policies in CI, without a cluster. */
describe('kubectl mirrord policy explain --from-files / policy lint', () => {
  it('explains a denial: which policy, what it blocks, exit 3; -o json has the documented shape', () => {
    const f = cfg({ feature: { network: { incoming: 'mirror' } } });
    const t = run(['policy', 'explain', '--target', 'deploy/webserver', '-n', 'books', '-f', f, '--from-files', DIR]);
    assert.equal(t.status, 3, t.stderr);
    assert.match(t.stdout, /^Policies that apply:\n {2}books\/block-unfiltered-stealing-from-webserver-deployments$/m);
    assert.match(t.stdout, /^ {2}mirror +by books\/block-unfiltered-stealing-from-webserver-deployments$/m);
    assert.match(
      t.stdout,
      /^Decision: DENIED\n {2}mirror is forbidden by the mirrord policy "books\/block-unfiltered-stealing-from-webserver-deployments"/m,
    );
    const j = run([
      'policy',
      'explain',
      '--target',
      'deploy/webserver',
      '-n',
      'books',
      '-f',
      f,
      '--from-files',
      DIR,
      '-o',
      'json',
    ]);
    const out = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out).slice(0, 5), ['allowed', 'denied_by', 'applied', 'profile', 'effective_config']);
    assert.equal(out.allowed, false);
    assert.deepEqual(out.denied_by, [
      {
        policy: 'books/block-unfiltered-stealing-from-webserver-deployments',
        reason:
          'mirror is forbidden by the mirrord policy "books/block-unfiltered-stealing-from-webserver-deployments" for this target (deploy/webserver in namespace books)',
      },
    ]);
  });

  it('uses workload labels from the files for selectors: the unlabelled deployment is allowed', () => {
    const r = run([
      'policy',
      'explain',
      '--target',
      'deploy/worker',
      '-n',
      'books',
      '-f',
      cfg({ feature: { network: { incoming: 'mirror' } } }),
      '--from-files',
      DIR,
      '-o',
      'json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { applied: string[] }).applied, []);
  });

  it("shows the profile and the policies' overrides in the effective config", () => {
    const r = run([
      'policy',
      'explain',
      '--target',
      'deploy/app',
      '-n',
      'profile-example',
      '--profile',
      'my-profile-2',
      '--from-files',
      DIR,
      '-o',
      'json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      profile: string;
      effective_config: { feature: { network: { incoming: { mode: string } } } };
    };
    assert.equal(out.profile, 'my-profile-2');
    assert.equal(out.effective_config.feature.network.incoming.mode, 'steal');
    const env = run([
      'policy',
      'explain',
      '--target',
      'deploy/app',
      '-n',
      'env-example',
      '-f',
      cfg({ feature: { env: { include: '*_URL' } } }),
      '--from-files',
      DIR,
      '-o',
      'json',
    ]);
    assert.deepEqual(
      (JSON.parse(env.stdout) as { effective_config: { feature: { env: { exclude: string[] } } } }).effective_config
        .feature.env.exclude,
      ['*_URL'],
    );
  });

  it("lint: the seeds' YAML is valid; a broken policy is named by file, document and path", () => {
    const ok = run(['policy', 'lint', DIR]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^12 policies and profiles valid$/m);
    const bad = join(tempDir('lint'), 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: policies.mirrord.metalbear.co/v1alpha\nkind: MirrordClusterPolicy\nmetadata: {name: p}\nspec:\n  targetPath: "deploy/*"\n  blok: [steal]\n  selector: {matchExpressions: [{key: a, operator: Inn}]}\n',
    );
    const r = run(['policy', 'lint', bad]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.yaml#1 \(MirrordClusterPolicy p\): spec\.blok: unknown field, did you mean "block"\?/);
    assert.match(
      r.stderr,
      /spec\.selector\.matchExpressions\[0\]\.operator: expected "In" \| "NotIn" \| "Exists" \| "DoesNotExist", got "Inn"/,
    );
    assert.match(r.stderr, /2 problems found/);
  });
});
