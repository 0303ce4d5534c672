import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { verifyConfigText, verifyConfigValue } from '#shared/mirrord-config/index.js';
import { parseGovernanceYaml } from '#shared/policy/index.js';
import { readFileSync } from 'node:fs';

const RUNS = 10_000;
const seedPolicies = readFileSync(new URL('../fixtures/governance/seed-policies.yaml', import.meta.url), 'utf8');

/** JSON-like values biased towards the config's own keys, so the fuzz reaches deep validation. */
const configKeys = [
  'feature',
  'network',
  'incoming',
  'outgoing',
  'mode',
  'http_filter',
  'header_filter',
  'ports',
  'fs',
  'env',
  'include',
  'exclude',
  'agent',
  'target',
  'path',
  'namespace',
  'copy_target',
  'scale_down',
  'operator',
  'profile',
  'kube_context',
  'dns',
  'all_of',
  'any_of',
  'steal',
  'mirror',
];
const leaf = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('steal', 'mirror', 'off', 'read', 'write', 'local', '(', '.*', 'deployment/x', '\u0000'),
);
const configLike = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...configKeys), fc.string({ maxLength: 12 })), tie('value'), {
      maxKeys: 5,
    }),
  ),
})).value;

/** A refusal a user can act on: every issue has a path and words. */
function assertNamed(issues: Array<{ path: string; message: string }>): void {
  assert.ok(issues.length > 0);
  for (const i of issues) {
    assert.equal(typeof i.path, 'string');
    assert.ok(i.message.length > 0, JSON.stringify(i));
  }
}

describe('fuzz: the parsers at the doors never crash and name what they refuse', () => {
  it(`the mirrord config: ${RUNS} generated values and texts`, () => {
    fc.assert(
      fc.property(configLike, (v) => {
        const r = verifyConfigValue(v);
        if (!r.ok) assertNamed(r.issues);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          configLike.map((v) => JSON.stringify(v) ?? ''),
        ),
        fc.constantFrom('mirrord.json', 'mirrord.yaml'),
        (text, fileName) => {
          const r = verifyConfigText(text, { fileName });
          if (!r.ok) assertNamed(r.issues);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`policy and profile YAML: ${RUNS} mutated documents`, () => {
    // The seeds' policies with characters dropped, swapped or inserted, and arbitrary text.
    const mutated = fc
      .tuple(fc.nat({ max: seedPolicies.length }), fc.nat({ max: 40 }), fc.string({ maxLength: 20 }))
      .map(([at, cut, insert]) => seedPolicies.slice(0, at) + insert + seedPolicies.slice(at + cut));
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string({ maxLength: 300 })), (text) => {
        const r = parseGovernanceYaml(text, 'fuzz.yaml');
        for (const i of r.issues) {
          assert.equal(i.source.startsWith('fuzz.yaml'), true, JSON.stringify(i));
          assert.ok(i.message.length > 0);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
