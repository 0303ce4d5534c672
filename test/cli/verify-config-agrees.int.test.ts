import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/tmp.js';
import { PLUGIN_BIN, runPlugin } from '../support/plugin.js';
import { http, API, SessionClient, startSystem, type System } from '../support/system.js';

const COSTLY = { feature: { network: { incoming: { mode: 'steal', http_filter: { header_filter: '(a+)+$' } } } } };
const COSTLY_LINE =
  'feature.network.incoming.http_filter.header_filter: the pattern "(a+)+$" is too costly to match: it nests one repetition inside another (like (a+)+), which can take exponential time to match (use a pattern without nested repetition)';

const dir = tempDir('verify-agrees');
const file = (name: string, value: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(value));
  return p;
};
const verify = (p: string) =>
  spawnSync(process.execPath, [PLUGIN_BIN, 'verify-config', p], { encoding: 'utf8', timeout: 30_000 });

describe('verify-config agrees with the gateway and with mirrord', () => {
  it('refuses the filter the gateway would refuse, naming its path in one line', () => {
    // given a config whose header filter nests repetition
    const p = file('costly.json', { target: 'deploy/x', ...COSTLY });
    // when it is verified offline
    const r = verify(p);
    // then it fails as the gateway would, with the field and the fix
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `${p}: 1 error\n  ${COSTLY_LINE}\n`);
  });

  it('refuses the target types mirrord refuses, with a did-you-mean where one fits', () => {
    // given targets mirrord's own parser refuses
    const cases: Array<[unknown, string]> = [
      [
        { path: 'node/x' },
        'target.path: unknown target type "node" in "node/x" (mirrord takes targetless, <type>/<name>[/container/<name>] with type deployment (deploy), pod, rollout, job, cronjob, statefulset, service or replicaset, or label/<key>=<value>[,…])',
      ],
      ['sts/db', 'target: unknown target type "sts" in "sts/db"; did you mean "statefulset"? (mirrord takes'],
      ['Deployment/x', 'target: unknown target type "Deployment" in "Deployment/x"; did you mean "deployment"?'],
      ['pod', 'target: "pod" names no pod; expected pod/<name>[/container/<name>]'],
      ['pod/x/c', 'target: "pod/x/c" is not pod/<name> or pod/<name>/container/<name>'],
      ['label/', 'target: "label/" names no label (label/<key>=<value>[,…])'],
    ];
    cases.forEach(([target, line], i) => {
      // when each is verified
      const p = file(`target-${i}.json`, { target });
      const r = verify(p);
      // then each is an error naming the target's path
      assert.equal(r.status, 1, `${JSON.stringify(target)}: ${r.stdout}`);
      assert.ok(r.stderr.startsWith(`${p}: 1 error\n  ${line}`), r.stderr);
    });
  });

  it('passes template placeholders and label targets with a warning, as mirrord takes them', () => {
    // given the generated placeholder and a label target
    const changeme = verify(file('changeme.json', { target: 'pod/<changeme>' }));
    const label = verify(file('label.json', { target: 'label/app=web,tier=front' }));
    // then both are valid, each with one warning
    assert.equal(changeme.status, 0, changeme.stderr);
    assert.match(
      changeme.stdout,
      /^ {2}warning: target: "<changeme>" is not a valid Kubernetes object name .*; it is checked when a session starts$/m,
    );
    assert.equal(label.status, 0, label.stderr);
    assert.match(label.stdout, /^ {2}warning: target: "label\/app=web,tier=front" is a mirrord label target/m);
  });
});

describe('a refused filter never creates a session first', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  it('the gateway refuses x-mirrord-config with a costly filter before any session, in one line', async () => {
    // given the real CLI's connect with a costly filter in its config
    const r = await SessionClient.connect(sys, {
      target: 'deployment.costly',
      headers: { 'x-mirrord-config': Buffer.from(JSON.stringify(COSTLY)).toString('base64') },
    });
    // then it is refused naming the field, and no session, rejection or event was recorded
    assert.equal(r.client, undefined);
    assert.equal(r.status, 422);
    assert.equal(r.body?.message, COSTLY_LINE);
    const status = await http(sys, 'GET', `${API}/mirrordoperators/operator`, 'admin-token');
    assert.deepEqual((status.body.status as { sessions: unknown[] }).sessions, []);
    const events = await http(sys, 'GET', `${API}/events`, 'admin-token');
    assert.equal(events.status, 200);
    assert.deepEqual(events.body.items ?? events.body.events, []);
  });

  it('the plugin refuses a costly --header-filter before it connects, in one line', async () => {
    // when a session is started with the filter on the command line
    const r = await runPlugin(sys, [
      'session',
      'start',
      '--target',
      'deploy/costly',
      '--steal',
      '80',
      '--header-filter',
      '(a+)+$',
    ]);
    // then one line names the flag and the fix (no serialized filter), and no session was made
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'error: --header-filter: the pattern "(a+)+$" is too costly to match: it nests one repetition inside another (like (a+)+), which can take exponential time to match (use a pattern without nested repetition)\n',
    );
    const status = await http(sys, 'GET', `${API}/mirrordoperators/operator`, 'admin-token');
    assert.deepEqual((status.body.status as { sessions: unknown[] }).sessions, []);
  });

  it('the plugin refuses the same config before it connects (session start -f)', async () => {
    // given the same config as a file
    const p = file('session-costly.json', COSTLY);
    // when a session is started with it
    const r = await runPlugin(sys, ['session', 'start', '--target', 'deploy/costly', '--steal', '80', '-f', p]);
    // then it fails with the config's path and the field, and the gateway saw no session
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`^error: ${p} is not a valid mirrord config:\\n`));
    assert.ok(r.stderr.includes(COSTLY_LINE), r.stderr);
    const status = await http(sys, 'GET', `${API}/mirrordoperators/operator`, 'admin-token');
    assert.deepEqual((status.body.status as { sessions: unknown[] }).sessions, []);
  });
});
