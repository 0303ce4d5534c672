import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { renderIssues, verifyConfigValue, type ConfigIssue } from '#shared/mirrord-config/index.js';
import { mutations } from '../support/config-mutations.js';

/**
 * Differential test: our `verify-config` and the official mirrord config schema (reference
 * data, release 3.250.0) must agree on every config generated here, except where we check
 * more than a JSON schema can say (regexes, mutually exclusive fields, target and profile
 * syntax, copy_target rules).
 */
const schema = JSON.parse(
  readFileSync(new URL('../fixtures/reference/mirrord-schema.json', import.meta.url), 'utf8'),
) as object;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const schemaAccepts = ajv.compile(schema);

const SEMANTIC = [
  /invalid regex/,
  /mutually exclusive/,
  /cannot be an empty list/,
  /not a target|unknown target type|not a valid (Kubernetes object|container) name|is empty/,
  /not a profile name/,
  /works with deployment targets only/,
  /not compatible with rollout/,
];
const semanticOnly = (issues: ConfigIssue[]) => issues.every((i) => SEMANTIC.some((re) => re.test(i.message)));

/**
 * Fields the Configuration document still documents but the 3.250 schema dropped; we accept
 * them (and the document's `{ "secret-key": … }` pull-secret form), so they are taken out
 * of the examples before comparing.
 */
function withoutLegacy(c: Record<string, unknown>): Record<string, unknown> {
  const x = structuredClone(c) as Record<string, Record<string, unknown>>;
  delete x.connect_tcp;
  if (x.agent) {
    delete x.agent.network_interface;
    x.agent.image_pull_secrets = [{ name: 'secret' }] as never;
  }
  return x;
}

// Configs in every shorthand form the document shows, right and wrong (fast-check: a
// disagreement is shrunk to the smallest config that shows it).
/** `arb` in a share `p` of the configs, else the key left out (what shrinking goes to first). */
const sometimes = <T>(p: number, arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof(
    { arbitrary: fc.constant(undefined), weight: Math.round((1 - p) * 10) },
    { arbitrary: arb, weight: Math.round(p * 10) },
  );
const defined = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
const list = fc.constantFrom<unknown>('A;B', ['A', 'B'], 5, ['A', 5]);
const inner = fc.constantFrom<unknown>(
  { header: '^x-user: .+$' },
  { path: '^/api/' },
  { method: 'POST' },
  { query: 'a=1' },
  { headr: 'typo' },
  { header: 5 },
);
const httpFilter = fc.oneof(
  fc.constantFrom<unknown>({ header_filter: '^User-Agent: (?!kube-probe)' }, { path_filter: '^(?!/health/)' }, true, {
    method_filter: 'GET',
  }),
  fc.record({ all_of: fc.tuple(inner, inner) }),
  fc.record({ any_of: fc.tuple(inner) }),
  fc.record({ header_filter: fc.constant('x'), ports: fc.constantFrom<unknown>(80, [80, 8080], 'eighty', 70000) }),
);
const incoming = fc.oneof(
  fc.constantFrom<unknown>(true, false, 'steal', 'mirror', 'off', 'stael', { listen_ports: [[80, 8111, 3]] }),
  fc.record(
    {
      mode: fc.constantFrom('steal', 'mirror', 'off', 'both'),
      http_filter: httpFilter,
      on_concurrent_steal: fc.constantFrom('abort', 'continue', 'override', 'kill'),
    },
    { requiredKeys: ['mode'] },
  ),
  fc.record({ port_mapping: fc.constantFrom([[1, 80]], [[70000, 80]]), ignore_localhost: fc.constantFrom(true, 'no') }),
);
const feature = fc
  .record({
    env: sometimes(
      0.6,
      fc.oneof(
        fc.constantFrom<unknown>(true, false, { mapping: { '.+_X': 1 } }, 'yes'),
        fc.record({ include: list }),
        fc.record({ exclude: list, override: fc.constant({ A: 'b' }) }),
      ),
    ),
    fs: sometimes(
      0.6,
      fc.oneof(
        fc.constantFrom<unknown>(
          true,
          false,
          'read',
          'write',
          'local',
          'localwithoverrides',
          'wirte',
          { local: ['.+\\.js'], not_found: '\\.config' },
          { mode: 'write', readonly_file_buffer: -1 },
        ),
        fc.record({ mode: fc.constant('read'), read_only: list }),
      ),
    ),
    network: sometimes(
      0.8,
      fc.oneof(
        fc.constantFrom<unknown>(true, false),
        fc.record({ incoming }),
        fc.record({
          incoming,
          outgoing: fc.constantFrom<unknown>(
            true,
            false,
            { tcp: true, udp: false },
            { filter: { local: [':53'] } },
            { filter: { remote: 'x', local: 'y' } },
            { unix_streams: ['bear.+'] },
          ),
        }),
        fc.record({
          dns: fc.constantFrom<unknown>(
            true,
            false,
            { enabled: false },
            { filter: { remote: ['svc'] } },
            { filter: {} },
          ),
          ipv6: fc.constantFrom(true, 1),
        }),
      ),
    ),
    copy_target: sometimes(
      0.3,
      fc.constantFrom<unknown>(
        true,
        false,
        { scale_down: true },
        { enabled: true, exclude_containers: ['c'] },
        { scale: true },
      ),
    ),
    hostname: sometimes(0.2, fc.constantFrom<unknown>(true, 'yes')),
  })
  .map(defined);
const generated: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    feature: feature.map((f) => (Object.keys(f).length ? f : undefined)),
    target: sometimes(
      0.5,
      fc.constantFrom<unknown>(
        'deployment/web',
        'pod/web-1/container/app',
        'targetless',
        { path: 'deploy/web', namespace: 'books' },
        { path: { pod: 'p', container: 'c' } },
        { deployment: 'web' },
        { path: { deploymnt: 'x' } },
        7,
      ),
    ),
    agent: sometimes(
      0.3,
      fc.constantFrom<unknown>(
        { ttl: 30, ephemeral: true },
        { ttl: 70000 },
        { image: { registry: 'r', tag: 't' } },
        { labels: { a: 'b' } },
        { labels: { a: 1 } },
        { namespce: 'x' },
      ),
    ),
    operator: sometimes(0.2, fc.constantFrom<unknown>(true, false, 'true')),
    skip_processes: sometimes(0.2, list),
    profile: sometimes(0.1, fc.constantFrom<unknown>('example-profile', 'ns/profile', 5)),
    featrue: sometimes(0.1, fc.constant({})),
  })
  .map(defined);

describe('verify-config agrees with the official mirrord config schema', () => {
  const fixture = (name: string) =>
    withoutLegacy(
      JSON.parse(readFileSync(new URL(`../fixtures/mirrord-config/${name}`, import.meta.url), 'utf8')) as Record<
        string,
        unknown
      >,
    );
  const bases = ['complete.json', 'complete-feature.json', 'basic.json', 'network.json'].map(
    (f) => [f, fixture(f)] as const,
  );
  const configs: Array<[string, Record<string, unknown>]> = [
    ...bases.map(([f, c]) => [f, c] as [string, Record<string, unknown>]),
    ...bases.flatMap(([f, c]) => mutations(c, f).map((m) => [m.name, m.config] as [string, Record<string, unknown>])),
  ];
  let accepted = 0;
  let rejected = 0;
  let semantic = 0;
  /** Where the two disagree, what each says; undefined where they agree. */
  const disagreement = (cfg: Record<string, unknown>): string | undefined => {
    const ours = verifyConfigValue(cfg);
    const theirs = schemaAccepts(cfg);
    if (ours.ok === theirs) {
      if (ours.ok) accepted++;
      else rejected++;
      return undefined;
    }
    if (!ours.ok && theirs && semanticOnly(ours.issues)) {
      semantic++;
      return undefined;
    }
    return `ours: ${ours.ok ? 'valid' : renderIssues(ours.issues)}\n  schema: ${theirs ? 'valid' : ajv.errorsText(schemaAccepts.errors)}`;
  };
  it(`agrees on ${configs.length} configs and 400 generated ones`, () => {
    const disagreements = configs.flatMap(([name, cfg]) => {
      const d = disagreement(cfg);
      return d ? [`${name}\n  ${d}`] : [];
    });
    assert.equal(disagreements.length, 0, disagreements.slice(0, 8).join('\n'));
    fc.assert(
      fc.property(generated, (cfg) => {
        const d = disagreement(cfg);
        assert.equal(d, undefined, d);
      }),
      { numRuns: 400 },
    );
    // Both sides of the comparison are exercised, not just one.
    assert.ok(accepted >= 50 && rejected >= 200, `accepted ${accepted}, rejected ${rejected}, semantic ${semantic}`);
  });
});
