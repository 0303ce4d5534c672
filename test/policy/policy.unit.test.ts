import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import { buildState, parseGovernanceYaml } from '#shared/policy/index.js';
import { checkIncoming, compileOutgoing, decideStart, outgoingVerdict } from '#shared/policy/index.js';
import { compilePolicy, PolicySet, type TargetFacts } from '#shared/policy/index.js';
import { globMatcher } from '#shared/policy/index.js';

const files = ['seed-policies.yaml', 'examples.yaml', 'workloads.yaml'].map((f) =>
  parseGovernanceYaml(readFileSync(new URL(`../fixtures/governance/${f}`, import.meta.url), 'utf8'), f),
);
const issues = files.flatMap((f) => f.issues);
const { policies, profiles } = buildState(files.flatMap((f) => f.governance));

const facts = (
  namespace: string,
  path: string,
  labels: Record<string, string> = {},
  copyTarget = false,
): TargetFacts => ({ namespace, path, labels, copyTarget });
/** given the seeds' resources, when a session asks with this config, then … */
function start(t: TargetFacts, config: unknown = {}, profile?: string) {
  const cfg = parseMirrordConfig(config);
  const sel = profile ?? cfg.profile;
  return decideStart(policies.applicable(t), {
    target: t,
    config: cfg,
    configGiven: true,
    ...(sel ? { profile: profiles.resolve(sel, t.namespace) } : {}),
  });
}
const port = (t: TargetFacts, mode: 'steal' | 'mirror', http_filter?: unknown) =>
  checkIncoming(
    policies.applicable(t),
    t,
    mode,
    http_filter
      ? parseMirrordConfig({ feature: { network: { incoming: { mode: 'steal', http_filter } } } }).feature.network
          .incoming.http_filter
      : undefined,
  );

describe("the seeds' policy and profile YAML", () => {
  it('all parse without a lint finding', () => assert.deepEqual(issues, []));
});

describe('block-stealing-from-boats-deployment (targetPath deploy/boats*)', () => {
  it('blocks steal on deploy/boats, with and without a container', () => {
    const d = port(facts('default', 'deploy/boats', { app: 'boats' }), 'steal');
    assert.equal(d.length, 1);
    assert.equal(
      d[0]!.reason,
      'steal is forbidden by the mirrord policy "default/block-stealing-from-boats-deployment" for this target (deploy/boats in namespace default)',
    );
    assert.equal(port(facts('default', 'deploy/boats/container/boats'), 'steal').length, 1);
  });
  it('does not block one of its pods targeted directly, nor mirroring, nor another namespace', () => {
    assert.deepEqual(port(facts('default', 'pod/boats-5fffb9767c-w92qh', { app: 'boats' }), 'steal'), []);
    assert.deepEqual(port(facts('default', 'deploy/boats'), 'mirror'), []);
    assert.deepEqual(port(facts('books', 'deploy/boats'), 'steal'), []);
  });
  it('a session whose config steals is refused at start; the decision names the policy', () => {
    const d = start(facts('default', 'deploy/boats'), { feature: { network: { incoming: 'steal' } } });
    assert.equal(d.allowed, false);
    assert.deepEqual(
      d.denied_by.map((x) => [x.policy, x.feature]),
      [['default/block-stealing-from-boats-deployment', 'steal']],
    );
    assert.deepEqual(d.applied, ['default/block-stealing-from-boats-deployment']);
  });
});

describe('block-unfiltered-stealing-from-webserver-deployments (selector component=webserver)', () => {
  const web = facts('books', 'deploy/webserver', { component: 'webserver' });
  it('blocks mirror and unfiltered steal on labelled deployments in books', () => {
    assert.deepEqual(
      port(web, 'mirror').map((d) => d.feature),
      ['mirror'],
    );
    assert.deepEqual(
      port(web, 'steal').map((d) => d.feature),
      ['steal-without-filter'],
    );
    assert.match(port(web, 'steal')[0]!.reason, /set an HTTP filter/);
    assert.deepEqual(port(web, 'steal', { header_filter: 'x-user: me' }), []);
  });
  it('leaves unlabelled deployments, and pods (targetPath deploy/*), alone', () => {
    assert.deepEqual(port(facts('books', 'deploy/worker', { component: 'worker' }), 'mirror'), []);
    assert.deepEqual(port(facts('books', 'pod/webserver-1', { component: 'webserver' }), 'mirror'), []);
  });
});

describe('env and fs overrides (the policy wins over the user config)', () => {
  it('env: include "*_URL" vs policy exclude ["*_URL"]', () => {
    const d = start(facts('env-example', 'deploy/app'), { feature: { env: { include: '*_URL' } } });
    assert.ok(d.allowed);
    assert.deepEqual(d.effective_config.feature.env.include, ['*_URL']);
    assert.deepEqual(d.effective_config.feature.env.exclude, ['*_URL']);
    assert.deepEqual(d.changes, [
      {
        policy: 'env-example/exclude-url-env',
        field: 'feature.env.exclude',
        change: 'excludes *_URL (wins over include)',
      },
    ]);
  });
  it('fs: read_write ".+\\.json" vs policy readOnly [".+\\.json"]', () => {
    const d = start(facts('fs-example', 'deploy/app'), { feature: { fs: { mode: 'write', read_write: '.+\\.json' } } });
    assert.deepEqual(d.effective_config.feature.fs.read_write, []);
    assert.deepEqual(d.effective_config.feature.fs.read_only, ['.+\\.json']);
  });
  it('fs precedence across policies: local, then notFound, then readOnly', () => {
    const set = new PolicySet();
    set.upsert(compilePolicy('MirrordClusterPolicy', 'a', undefined, { fs: { readOnly: ['x', 'y', 'z'] } }));
    set.upsert(compilePolicy('MirrordClusterPolicy', 'b', undefined, { fs: { notFound: ['y', 'x'], local: ['x'] } }));
    const t = facts('ns', 'deploy/a');
    const fs = decideStart(set.applicable(t), { target: t, config: parseMirrordConfig({}), configGiven: true })
      .effective_config.feature.fs;
    assert.deepEqual([fs.local, fs.not_found, fs.read_only], [['x'], ['y'], ['z']]);
  });
});

describe('the "^username: .+" header filter policy', () => {
  const t = facts('header-example', 'deploy/app');
  it('a plain header_filter must match it', () => {
    assert.deepEqual(port(t, 'steal', { header_filter: 'username: foobar' }), []);
    assert.deepEqual(
      port(t, 'steal', { header_filter: 'x-user: foobar' }).map((d) => d.feature),
      ['header-filter'],
    );
  });
  it('all_of: at least one nested header filter matches', () => {
    assert.deepEqual(port(t, 'steal', { all_of: [{ header: 'username: foobar' }, { path: '/api.*' }] }), []);
    assert.equal(port(t, 'steal', { all_of: [{ header: 'x: y' }, { path: '/api.*' }] }).length, 1);
  });
  it('any_of: every nested filter must be a header filter that matches', () => {
    assert.deepEqual(
      port(t, 'steal', { any_of: [{ header: 'username: foobar' }, { header: 'username: baz2000' }] }),
      [],
    );
    const d = port(t, 'steal', { any_of: [{ header: 'username: foobar' }, { path: '/api' }] });
    assert.match(d[0]!.reason, /every any_of filter must be a header filter matching \^username: \.\+/);
  });
  it('implies steal-without-filter (an unfiltered steal, or a path filter only, is refused)', () => {
    assert.deepEqual(
      port(t, 'steal').map((d) => d.feature),
      ['steal-without-filter'],
    );
    assert.deepEqual(
      port(t, 'steal', { path_filter: '^/api' }).map((d) => d.feature),
      ['header-filter'],
    );
    assert.deepEqual(port(t, 'mirror'), []);
  });
});

describe('requireProfile + profileAllowlist across two policies', () => {
  const t = facts('profile-example', 'deploy/app');
  it('no profile: refused by the policy that requires one', () => {
    const d = start(t, {});
    assert.deepEqual(
      d.denied_by.map((x) => x.policy),
      ['profile-example/require-profile'],
    );
    assert.match(d.denied_by[0]!.reason, /a mirrord profile is required/);
  });
  it('my-profile-1 is in one allowlist but not the other: refused, naming that policy', () => {
    const d = start(t, { profile: 'my-profile-1' });
    assert.deepEqual(
      d.denied_by.map((x) => x.policy),
      ['profile-example/narrow-profiles'],
    );
  });
  it('my-profile-2 is in every allowlist: allowed, and its adjustments apply in order', () => {
    const d = start(t, { profile: 'my-profile-2', feature: { network: { incoming: 'mirror' } } });
    assert.ok(d.allowed, JSON.stringify(d.denied_by));
    assert.equal(d.profile, 'my-profile-2');
    assert.equal(d.effective_config.feature.network.incoming.mode, 'steal');
    assert.deepEqual(
      [d.effective_config.feature.network.outgoing.tcp, d.effective_config.feature.network.outgoing.udp],
      [false, false],
    );
  });
  it("an unknown profile, or another namespace's, is a clear error", () => {
    assert.throws(
      () => start(t, { profile: 'nope' }),
      /profile "nope" not found: no MirrordClusterProfile named "nope"/,
    );
    assert.throws(
      () => start(t, { profile: 'example-namespace/example-profile' }),
      /only available to targets there, not in "profile-example"/,
    );
  });
  it('the seed cluster profile applies incoming-steal, outgoing-remote, dns-remote', () => {
    const d = start(facts('default', 'deploy/other'), {
      profile: 'example-cluster-profile',
      feature: { network: { incoming: 'off', dns: false, outgoing: false } },
    });
    const n = d.effective_config.feature.network;
    assert.deepEqual([n.incoming.mode, n.dns.enabled, n.outgoing.tcp], ['steal', true, true]);
  });
});

describe('applicability', () => {
  it('targetPath globs: ? is one character, * any run, targetless and the container suffix', () => {
    const m = globMatcher('*boats*');
    assert.ok(m('pod/boats-2kljw9') && m('pod/whatever-23oije2/container/boats-container') && !m('deploy/ships'));
    assert.ok(globMatcher('deploy/web-?').call(null, 'deploy/web-1') && !globMatcher('deploy/web-?')('deploy/web-12'));
    assert.ok(!globMatcher('deploy/my-deployment')('deploy/my-deployment/container/app'));
    assert.ok(globMatcher('deploy/my-deployment*')('deploy/my-deployment/container/app'));
    assert.ok(globMatcher('targetless')('targetless'));
  });
  it('matchExpressions: In, NotIn, Exists, DoesNotExist', () => {
    const set = new PolicySet();
    set.upsert(
      compilePolicy('MirrordPolicy', 'p', 'ns', {
        selector: {
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['web', 'api'] },
            { key: 'canary', operator: 'DoesNotExist' },
          ],
        },
        block: ['mirror'],
      }),
    );
    const ids = (labels: Record<string, string>) => set.applicable(facts('ns', 'deploy/x', labels)).map((p) => p.id);
    assert.deepEqual(ids({ tier: 'web' }), ['ns/p']);
    assert.deepEqual(ids({ tier: 'db' }), []);
    assert.deepEqual(ids({ tier: 'api', canary: 'true' }), []);
  });
  it('copy-target sessions skip a policy unless appliesToCopyTargets', () => {
    const set = new PolicySet();
    set.upsert(compilePolicy('MirrordClusterPolicy', 'plain', undefined, { block: ['steal'] }));
    set.upsert(
      compilePolicy('MirrordClusterPolicy', 'copies-too', undefined, {
        block: ['copy-target-scale-down'],
        appliesToCopyTargets: true,
      }),
    );
    const t = facts('ns', 'deploy/x', {}, true);
    assert.deepEqual(
      set.applicable(t).map((p) => p.id),
      ['copies-too'],
    );
    const d = decideStart(set.applicable(t), {
      target: t,
      config: parseMirrordConfig({ target: 'deploy/x', feature: { copy_target: { scale_down: true } } }),
      configGiven: true,
    });
    assert.deepEqual(
      d.denied_by.map((x) => x.feature),
      ['copy-target-scale-down'],
    );
  });
  it('removing a policy stops it applying (informer delete)', () => {
    const set = new PolicySet();
    set.upsert(compilePolicy('MirrordPolicy', 'p', 'ns', { targetPath: 'deploy/*', block: ['steal'] }));
    assert.equal(set.applicable(facts('ns', 'deploy/a')).length, 1);
    set.remove('MirrordPolicy', 'ns/p');
    assert.equal(set.applicable(facts('ns', 'deploy/a')).length, 0);
    assert.equal(set.size, 0);
  });
});

describe('outgoing allow / block rules', () => {
  const set = new PolicySet();
  set.upsert(
    compilePolicy('MirrordClusterPolicy', 'allow-internal', undefined, {
      network: {
        outgoing: {
          allow: [
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.9.0.0/16'] } },
            { hostname: '\\.svc\\.cluster\\.local$' },
          ],
        },
      },
    }),
  );
  set.upsert(
    compilePolicy('MirrordClusterPolicy', 'no-db', undefined, {
      network: {
        outgoing: { block: [{ ipBlock: { cidr: '10.1.0.0/16' }, ports: [{ protocol: 'TCP', port: 5432 }] }] },
      },
    }),
  );
  // The relay's path: the session's decision carries the rules, compiled once per connection.
  const t = facts('ns', 'deploy/x');
  const decision = decideStart(set.applicable(t), { target: t, config: parseMirrordConfig({}), configGiven: true });
  const ps = compileOutgoing(decision.enforce.outgoing);
  const refusedBy = (v: ReturnType<typeof outgoingVerdict>) => (v.allowed ? undefined : v.policy);
  it('the decision states the rules it enforces, by policy', () => {
    assert.deepEqual(
      decision.enforce.outgoing.block.map((r) => r.policy),
      ['no-db'],
    );
    assert.equal(decision.enforce.outgoing.allow.length, 2);
  });
  it('a hostname rule matches any name the destination was resolved from', () => {
    assert.deepEqual(
      outgoingVerdict(ps, { ip: '192.0.2.1', hostname: ['db', 'db.books.svc.cluster.local'], port: 5 }),
      {
        allowed: true,
      },
    );
    const refused = outgoingVerdict(ps, { ip: '192.0.2.1', hostname: [], port: 5 });
    assert.equal(refused.allowed, false);
    assert.equal(!refused.allowed && refused.policy, 'allow-internal');
    assert.match(
      !refused.allowed ? refused.reason : '',
      /not in the network.outgoing.allow list \(10.0.0.0\/8 except 10.9.0.0\/16; hostname ~ /,
    );
  });
  it('allow first; a non-empty allow list forbids the rest', () => {
    assert.deepEqual(outgoingVerdict(ps, { ip: '10.2.3.4', port: 80 }), { allowed: true });
    assert.deepEqual(outgoingVerdict(ps, { hostname: 'db.books.svc.cluster.local', port: 5432 }), { allowed: true });
    assert.equal(refusedBy(outgoingVerdict(ps, { ip: '8.8.8.8', port: 53, protocol: 'UDP' })), 'allow-internal');
    assert.equal(refusedBy(outgoingVerdict(ps, { ip: '10.9.1.1', port: 80 })), 'allow-internal');
  });
  it('a destination matching both an allow and a block rule is blocked', () => {
    const v = outgoingVerdict(ps, { ip: '10.1.2.3', port: 5432 });
    assert.deepEqual(v, {
      allowed: false,
      policy: 'no-db',
      reason: 'its network.outgoing.block rule 10.1.0.0/16, TCP/5432',
    });
    assert.deepEqual(outgoingVerdict(ps, { ip: '10.1.2.3', port: 5432, protocol: 'UDP' }), { allowed: true });
  });
});

describe('policy lint', () => {
  it('names the document and the path, with did-you-mean', () => {
    const r = parseGovernanceYaml(
      'apiVersion: policies.mirrord.metalbear.co/v1alpha\nkind: MirrordPolicy\nmetadata: {name: p, namespace: ns}\nspec:\n  blok: [steal]\n  block: [stael]\n  network: {incoming: {httpFilter: {headerFilter: "("}}}\n',
      'p.yaml',
    );
    const lines = r.issues.map((i) => `${i.source}: ${i.path}: ${i.message}`);
    assert.ok(
      lines.some((l) => l === 'p.yaml#1 (MirrordPolicy p): spec.blok: unknown field, did you mean "block"?'),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) =>
        /spec\.block\[0\]: expected "steal" \| "steal-without-filter" \| "mirror" \| "copy-target-scale-down", got "stael"/.test(
          l,
        ),
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /spec\.network\.incoming\.httpFilter\.headerFilter: invalid regex/.test(l)),
      lines.join('\n'),
    );
  });
});
