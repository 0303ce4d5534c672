import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PLUGIN_BIN } from '../support/plugin.js';

const DIR = fileURLToPath(new URL('../fixtures/governance/', import.meta.url));
const explain = (...args: string[]) =>
  spawnSync(process.execPath, [PLUGIN_BIN, 'policy', 'explain', '--from-files', DIR, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });

/** Offline, a typo'd target or namespace is "allowed" (nothing selects it): say so, and fail under --strict. */
describe('policy explain --from-files: a target or namespace the files do not have', () => {
  it("warns of a typo'd target with a did-you-mean, one stderr line, and still explains", () => {
    // when the target is misspelled in a namespace the files have
    const r = explain('--target', 'deploy/webservr', '-n', 'books');
    // then one warning line names --target and the closest name; the decision is printed, exit 0
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stderr,
      'warning: --target: no Deployment "webservr" in namespace "books" in the files, so its labels are unknown to policy selectors; did you mean deploy/webserver?\n',
    );
    assert.match(r.stdout, /^Decision: allowed$/m);
  });

  it("warns of a typo'd namespace and of the target not in it, one line each", () => {
    // when the namespace is misspelled
    const r = explain('--target', 'deploy/webserver', '-n', 'bokks');
    // then two lines: the namespace and the target
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stderr.split('\n'), [
      'warning: --namespace: "bokks" is not in the files (no Namespace, workload, policy or profile in it); is it spelled right?',
      'warning: --target: no Deployment "webserver" in namespace "bokks" in the files, so its labels are unknown to policy selectors',
      '',
    ]);
  });

  it('--strict exits 4 on either; a target in the files is quiet, and --strict needs --from-files', () => {
    // when the same typo is explained with --strict, and a real target too
    const strict = explain('--target', 'deploy/webservr', '-n', 'books', '--strict');
    const fine = explain('--target', 'deploy/webserver', '-n', 'books', '--strict');
    const online = spawnSync(process.execPath, [PLUGIN_BIN, 'policy', 'explain', '--target', 'deploy/x', '--strict'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, MIRRORD_GATEWAY: 'http://127.0.0.1:1' },
    });
    // then the typo fails with 4 (decision still printed), the real one is silent, and --strict alone is refused
    assert.equal(strict.status, 4);
    assert.match(strict.stderr, /^warning: --target: no Deployment "webservr"/);
    assert.match(strict.stdout, /^Decision: /m);
    assert.equal(fine.stderr, '');
    assert.notEqual(fine.status, 4);
    assert.equal(online.status, 1);
    assert.equal(
      online.stderr,
      'error: --strict: applies to --from-files only (the cluster says itself what does not exist)\n',
    );
  });
});
