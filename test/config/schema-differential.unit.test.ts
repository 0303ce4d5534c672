import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
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

// A small seeded generator of configs in every shorthand form the document shows.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
}
function generate(n: number): Record<string, unknown>[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = <T>(v: () => T): T | undefined => (r() < 0.5 ? v() : undefined);
  const inner = () =>
    pick([
      { header: '^x-user: .+$' },
      { path: '^/api/' },
      { method: 'POST' },
      { query: 'a=1' },
      { headr: 'typo' },
      { header: 5 },
    ]);
  const httpFilter = () =>
    pick<unknown>([
      { header_filter: '^User-Agent: (?!kube-probe)' },
      { path_filter: '^(?!/health/)' },
      { all_of: [inner(), inner()] },
      { any_of: [inner()] },
      { header_filter: 'x', ports: pick<unknown>([80, [80, 8080], 'eighty', 70000]) },
      true,
      { method_filter: 'GET' },
    ]);
  const incoming = () =>
    pick<unknown>([
      true,
      false,
      'steal',
      'mirror',
      'off',
      'stael',
      {
        mode: pick(['steal', 'mirror', 'off', 'both']),
        http_filter: maybe(httpFilter),
        on_concurrent_steal: maybe(() => pick(['abort', 'continue', 'override', 'kill'])),
      },
      { port_mapping: [[pick([1, 70000]), 80]], ignore_localhost: pick([true, 'no']) },
      { listen_ports: [[80, 8111, 3]] },
    ]);
  const list = () => pick<unknown>(['A;B', ['A', 'B'], 5, ['A', 5]]);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const feature: Record<string, unknown> = {};
    if (r() < 0.6)
      feature.env = pick<unknown>([
        true,
        false,
        { include: list() },
        { exclude: list(), override: { A: 'b' } },
        { mapping: { '.+_X': 1 } },
        'yes',
      ]);
    if (r() < 0.6)
      feature.fs = pick<unknown>([
        true,
        false,
        'read',
        'write',
        'local',
        'localwithoverrides',
        'wirte',
        { mode: 'read', read_only: list() },
        { local: ['.+\\.js'], not_found: '\\.config' },
        { mode: 'write', readonly_file_buffer: -1 },
      ]);
    if (r() < 0.8)
      feature.network = pick<unknown>([
        true,
        false,
        { incoming: incoming() },
        {
          incoming: incoming(),
          outgoing: pick<unknown>([
            true,
            false,
            { tcp: true, udp: false },
            { filter: { local: [':53'] } },
            { filter: { remote: 'x', local: 'y' } },
            { unix_streams: ['bear.+'] },
          ]),
        },
        {
          dns: pick<unknown>([true, false, { enabled: false }, { filter: { remote: ['svc'] } }, { filter: {} }]),
          ipv6: pick([true, 1]),
        },
      ]);
    if (r() < 0.3)
      feature.copy_target = pick<unknown>([
        true,
        false,
        { scale_down: true },
        { enabled: true, exclude_containers: ['c'] },
        { scale: true },
      ]);
    if (r() < 0.2) feature.hostname = pick([true, 'yes']);
    const cfg: Record<string, unknown> = {};
    if (Object.keys(feature).length) cfg.feature = feature;
    if (r() < 0.5)
      cfg.target = pick<unknown>([
        'deployment/web',
        'pod/web-1/container/app',
        'targetless',
        { path: 'deploy/web', namespace: 'books' },
        { path: { pod: 'p', container: 'c' } },
        { deployment: 'web' },
        { path: { deploymnt: 'x' } },
        7,
      ]);
    if (r() < 0.3)
      cfg.agent = pick<unknown>([
        { ttl: 30, ephemeral: true },
        { ttl: 70000 },
        { image: { registry: 'r', tag: 't' } },
        { labels: { a: 'b' } },
        { labels: { a: 1 } },
        { namespce: 'x' },
      ]);
    if (r() < 0.2) cfg.operator = pick([true, false, 'true']);
    if (r() < 0.2) cfg.skip_processes = list();
    if (r() < 0.1) cfg.profile = pick(['example-profile', 'ns/profile', 5]);
    if (r() < 0.1) cfg.featrue = {};
    out.push(cfg);
  }
  return out;
}

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
    ...generate(400).map((c, i) => [`generated #${i}: ${JSON.stringify(c)}`, c] as [string, Record<string, unknown>]),
  ];
  let accepted = 0;
  let rejected = 0;
  let semantic = 0;
  it(`agrees on ${configs.length} configs`, () => {
    const disagreements: string[] = [];
    for (const [name, cfg] of configs) {
      const ours = verifyConfigValue(cfg);
      const theirs = schemaAccepts(cfg);
      if (ours.ok === theirs) {
        if (ours.ok) accepted++;
        else rejected++;
        continue;
      }
      if (!ours.ok && theirs && semanticOnly(ours.issues)) {
        semantic++;
        continue;
      }
      disagreements.push(
        `${name}\n  ours: ${ours.ok ? 'valid' : renderIssues(ours.issues)}\n  schema: ${theirs ? 'valid' : ajv.errorsText(schemaAccepts.errors)}`,
      );
    }
    assert.equal(disagreements.length, 0, disagreements.slice(0, 8).join('\n'));
    // Both sides of the comparison are exercised, not just one.
    assert.ok(accepted >= 50 && rejected >= 200, `accepted ${accepted}, rejected ${rejected}, semantic ${semantic}`);
  });
});
