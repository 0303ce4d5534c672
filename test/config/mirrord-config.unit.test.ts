import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderIssues, verifyConfigText, verifyConfigValue, type MirrordConfig } from '#shared/mirrord-config/index.js';
import { mutations } from '../support/config-mutations.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/mirrord-config/${name}`, import.meta.url), 'utf8');
const ok = (v: unknown): MirrordConfig => {
  const r = verifyConfigValue(v);
  assert.ok(r.ok, r.ok ? '' : renderIssues(r.issues));
  return r.config;
};
const errors = (v: unknown): string => {
  const r = verifyConfigValue(v);
  assert.ok(!r.ok, `expected ${JSON.stringify(v)} to be rejected`);
  return renderIssues(r.issues);
};

describe('mirrord config: the Configuration document examples', () => {
  it('the basic example normalises its shorthands with the documented defaults', () => {
    const r = verifyConfigText(fixture('basic.json'), { fileName: 'basic.json' });
    assert.ok(r.ok, r.ok ? '' : renderIssues(r.issues));
    assert.deepEqual(r.config.target, { path: 'pod/bear-pod' });
    assert.deepEqual(r.config.feature.env, { enabled: true });
    assert.equal(r.config.feature.fs.mode, 'read');
    assert.equal(r.config.feature.network.incoming.mode, 'mirror');
    assert.deepEqual(r.config.feature.network.outgoing, { tcp: true, udp: true, ignore_localhost: false });
    assert.deepEqual(r.config.feature.network.dns, { enabled: true });
    assert.deepEqual(r.config.feature.copy_target, { enabled: false, scale_down: false });
  });

  it('the templated example renders get_env with its default, and with the variable set', () => {
    const a = verifyConfigText(fixture('basic-template.json'), { fileName: 'x.json', template: { env: {} } });
    assert.ok(a.ok && a.config.target.path === 'pod/fallback');
    const b = verifyConfigText(fixture('basic-template.json'), {
      fileName: 'x.json',
      template: { env: { TARGET: 'deploy/boats' } },
    });
    assert.ok(b.ok && b.config.target.path === 'deployment/boats');
  });

  it('both complete examples parse, keeping the layer-side options as written', () => {
    const full = verifyConfigText(fixture('complete.json'), { fileName: 'complete.json' });
    assert.ok(full.ok, full.ok ? '' : renderIssues(full.issues));
    const c = full.config;
    assert.deepEqual(c.target, { path: 'pod/bear-pod', namespace: 'default' });
    assert.deepEqual(c.feature.env.include, ['DATABASE_USER', 'PUBLIC_ENV']);
    assert.deepEqual(c.feature.env.exclude, ['DATABASE_PASSWORD', 'SECRET_ENV']);
    assert.deepEqual(c.feature.fs, {
      mode: 'write',
      read_write: ['.+\\.json'],
      read_only: ['.+\\.yaml', '.+important-file\\.txt'],
      local: ['.+\\.js', '.+\\.mjs'],
      not_found: [],
    });
    assert.equal(c.feature.network.incoming.mode, 'steal');
    assert.deepEqual(c.feature.network.incoming.http_filter, { header_filter: 'host: api\\..+' });
    assert.deepEqual(c.feature.network.incoming.port_mapping, [[7777, 8888]]);
    assert.deepEqual(c.feature.network.outgoing.filter, {
      local: ['tcp://1.1.1.0/24:1337', '1.1.5.0/24', 'google.com', ':53'],
    });
    assert.deepEqual(c.feature.network.outgoing.unix_streams, ['bear.+']);
    assert.deepEqual(c.feature.copy_target, { enabled: true, scale_down: false });
    assert.equal(c.operator, true);
    assert.equal((c.rest.agent as { ttl: number }).ttl, 30);
    assert.equal(c.rest.kube_context, 'my-cluster');
    const feat = verifyConfigText(fixture('complete-feature.json'), { fileName: 'f.json' });
    assert.ok(feat.ok, feat.ok ? '' : renderIssues(feat.issues));
    assert.equal(feat.config.feature.network.dns.enabled, false);
    assert.equal(feat.config.feature.copy_target.enabled, false);
    assert.equal(feat.config.feature.hostname, true);
  });
});

describe('mirrord config: shorthand forms', () => {
  const cases: Array<[string, unknown, (c: MirrordConfig) => unknown, unknown]> = [
    ['"env": false', { feature: { env: false } }, (c) => c.feature.env.enabled, false],
    [
      '"env": {include: list}',
      { feature: { env: { include: ['A', 'B_*'] } } },
      (c) => c.feature.env.include,
      ['A', 'B_*'],
    ],
    ['"fs": false is local', { feature: { fs: false } }, (c) => c.feature.fs.mode, 'local'],
    ['"fs": true is read', { feature: { fs: true } }, (c) => c.feature.fs.mode, 'read'],
    ['"fs": "write"', { feature: { fs: 'write' } }, (c) => c.feature.fs.mode, 'write'],
    [
      '"network": false turns everything off',
      { feature: { network: false } },
      (c) => [c.feature.network.incoming.mode, c.feature.network.outgoing.tcp, c.feature.network.dns.enabled],
      ['off', false, false],
    ],
    [
      '"incoming": "steal"',
      { feature: { network: { incoming: 'steal' } } },
      (c) => c.feature.network.incoming.mode,
      'steal',
    ],
    ['"incoming": false', { feature: { network: { incoming: false } } }, (c) => c.feature.network.incoming.mode, 'off'],
    ['"dns": false', { feature: { network: { dns: false } } }, (c) => c.feature.network.dns.enabled, false],
    [
      '"outgoing": false',
      { feature: { network: { outgoing: false } } },
      (c) => [c.feature.network.outgoing.tcp, c.feature.network.outgoing.udp],
      [false, false],
    ],
    [
      '"copy_target": true',
      { feature: { copy_target: true } },
      (c) => c.feature.copy_target,
      { enabled: true, scale_down: false },
    ],
    [
      '"target": {"path": {"deployment": …, "container": …}}',
      { target: { path: { deployment: 'web', container: 'app' } } },
      (c) => c.target.path,
      'deployment/web/container/app',
    ],
    ['"target": "deploy/x" is canonical', { target: 'deploy/x' }, (c) => c.target.path, 'deployment/x'],
    ['"target": "targetless"', { target: 'targetless' }, (c) => c.target.path, 'targetless'],
    [
      '"profile": "ns/name"',
      { profile: 'example-namespace/example-profile' },
      (c) => c.profile,
      'example-namespace/example-profile',
    ],
    [
      'http_filter ports as one number',
      { feature: { network: { incoming: { mode: 'steal', http_filter: { path_filter: '^/api/', ports: 8080 } } } } },
      (c) => c.feature.network.incoming.http_filter,
      { path_filter: '^/api/', ports: [8080] },
    ],
    [
      'the seed look-ahead filters compile',
      {
        feature: {
          network: {
            incoming: {
              mode: 'steal',
              http_filter: { any_of: [{ header: '^User-Agent: (?!kube-probe)' }, { path: '^(?!/health/)' }] },
            },
          },
        },
      },
      (c) => c.feature.network.incoming.http_filter?.any_of?.length,
      2,
    ],
    [
      'Rust named groups (?P<n>…) compile',
      { feature: { fs: { mapping: { '^/home/(?<user>\\S+)/dev': '/etc' }, read_only: '(?P<x>a)(?P=x)' } } },
      (c) => c.feature.fs.read_only,
      ['(?P<x>a)(?P=x)'],
    ],
    [
      'null means unset',
      { feature: { env: null, fs: null }, agent: null },
      (c) => [c.feature.env.enabled, c.feature.fs.mode],
      [true, 'read'],
    ],
  ];
  for (const [name, input, pick, want] of cases) it(name, () => assert.deepEqual(pick(ok(input)), want));
});

describe('mirrord config: errors name the path and the fix', () => {
  it("the issue's own example", () => {
    assert.equal(
      errors({ feature: { network: { incoming: { mode: 'stael' } } } }),
      'feature.network.incoming.mode: expected "mirror" | "steal" | "off", got "stael"',
    );
  });
  it('unknown fields are suggested back', () => {
    assert.equal(errors({ featrue: {} }), 'featrue: unknown field, did you mean "feature"?');
    assert.match(
      errors({ feature: { network: { incomming: 'steal' } } }),
      /^feature\.network\.incomming: unknown field, did you mean "incoming"\?$/,
    );
  });
  it('every problem is reported, not just the first', () => {
    const e = errors({
      agent: { ttl: 'x' },
      feature: { fs: 'wirte', network: { incoming: { mode: 'steal', http_filter: { header_filter: '(' } } } },
    });
    assert.match(e, /^agent\.ttl: expected a number, got "x"$/m);
    assert.match(e, /^feature\.fs: expected .*"write".*, got "wirte"$/m);
    assert.match(e, /^feature\.network\.incoming\.http_filter\.header_filter: invalid regex "\(": /m);
  });
  it('semantic rules the schema cannot express', () => {
    assert.match(
      errors({ feature: { network: { incoming: { http_filter: { all_of: [] } } } } }),
      /http_filter\.all_of: cannot be an empty list/,
    );
    assert.match(
      errors({ feature: { network: { incoming: { http_filter: { header_filter: 'a', path_filter: 'b' } } } } }),
      /header_filter and path_filter are mutually exclusive/,
    );
    assert.match(
      errors({ feature: { network: { incoming: { ports: [80], ignore_ports: [81] } } } }),
      /ports and ignore_ports are mutually exclusive/,
    );
    ok({ target: 'deploy/x', feature: { copy_target: { scale_down: true } } });
    assert.match(
      errors({ target: 'pod/x', feature: { copy_target: { scale_down: true } } }),
      /feature\.copy_target\.scale_down: works with deployment targets only/,
    );
    assert.match(
      errors({ target: 'rollout/x', feature: { copy_target: true } }),
      /not compatible with rollout targets/,
    );
    // A target type mirrord's parser refuses is an error; a name it takes but Kubernetes would
    // not (the generated "pod/<changeme>") is a warning (checked at session start).
    const warned = (v: unknown) => {
      const r = verifyConfigValue(v);
      assert.ok(r.ok, r.ok ? '' : renderIssues(r.issues));
      return renderIssues(r.warnings);
    };
    assert.match(errors({ target: 'pd/x' }), /^target: unknown target type "pd" in "pd\/x"; did you mean "pod"\?/);
    assert.match(
      warned({ target: 'pod/<changeme>' }),
      /^target: "<changeme>" is not a valid Kubernetes object name.*; it is checked when a session starts/,
    );
    assert.match(warned({ target: { path: 'pod/<changeme>', namespace: 'default' } }), /^target\.path: /);
    assert.match(errors({ profile: 'Not A Profile' }), /^profile: "Not A Profile" is not a profile name/);
    assert.match(
      errors({ feature: { fs: { read_only: ['(?>atomic)'] } } }),
      /fs\.read_only\[0\]: invalid regex .*atomic groups/,
    );
  });
  it('a broken file says where: JSON position, template variable', () => {
    const j = verifyConfigText('{\n  "target": "pod/x",\n  "feature": {,}\n}', { fileName: 'm.json' });
    assert.ok(
      !j.ok && /^\(json, line 3 column \d+\): not valid JSON/.test(renderIssues(j.issues)),
      !j.ok ? renderIssues(j.issues) : '',
    );
    const t = verifyConfigText('{"target": "{{ get_env(name=\\"NOPE\\") }}"}'.replace(/\\"/g, '"'), {
      fileName: 'm.json',
      template: { env: {} },
    });
    assert.ok(!t.ok && /NOPE is not set/.test(renderIssues(t.issues)));
    const y = verifyConfigText('target: pod/x\nfeature:\n  fs: read\n', { fileName: 'm.yaml' });
    assert.ok(y.ok && y.config.feature.fs.mode === 'read');
  });
});

describe('mirrord config: 200+ mutated configs name the right path', () => {
  const bases: Array<[string, Record<string, unknown>]> = [
    ['complete', JSON.parse(fixture('complete.json')) as Record<string, unknown>],
    ['complete-feature', JSON.parse(fixture('complete-feature.json')) as Record<string, unknown>],
    ['basic', JSON.parse(fixture('basic.json')) as Record<string, unknown>],
    ['network', JSON.parse(fixture('network.json')) as Record<string, unknown>],
  ];
  const all = bases.flatMap(([label, base]) => mutations(base, label));
  it(`generates at least 200 cases (${all.length})`, () => assert.ok(all.length >= 200));
  for (const m of all) {
    it(m.name, () => {
      const r = verifyConfigValue(m.config);
      assert.ok(!r.ok, 'was accepted');
      const hit = r.issues.find((i) => i.path === m.path);
      assert.ok(hit, `no error names ${m.path}; got:\n${renderIssues(r.issues)}`);
      assert.ok(hit.message.includes(m.says), `"${hit.message}" does not say "${m.says}"`);
    });
  }
});
