import { decideStartRequest } from '../services/policy/src/domain/decide.js';
import { decideStart } from '#shared/policy/index.js';
import { compilePolicy, PolicySet, type CompiledPolicy, type TargetFacts } from '#shared/policy/index.js';
import { ProfileSet } from '#shared/policy/index.js';
import type { PolicySpec } from '#shared/policy/index.js';
import { parseMirrordConfig } from '#shared/mirrord-config/index.js';
import type { NatsServer } from '../test/support/nats-server.js';
import { percentile, type Row } from './support/util.js';

/** 1,000 policies over 100 namespaces; a target in one namespace sees at most 10 of them. */
function policies(): CompiledPolicy[] {
  const shapes: PolicySpec[] = [
    { targetPath: 'deploy/*', block: ['mirror'] },
    { targetPath: 'deploy/web*', selector: { matchLabels: { tier: 'web' } }, block: ['steal-without-filter'] },
    { targetPath: '*web*', env: { exclude: ['*_TOKEN'] } },
    { targetPath: 'deploy/web-?', fs: { readOnly: ['.+\\.json'] } },
    { network: { incoming: { httpFilter: { headerFilter: '^x-user: .+' } } } },
    { targetPath: 'pod/*', block: ['steal'] },
    {
      selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] },
      profileAllowlist: ['p1', 'p2'],
    },
    { targetPath: 'statefulset/*', block: ['steal'] },
    { targetPath: 'deploy/api*', block: ['steal'] },
    { targetPath: 'targetless', block: ['mirror'] },
  ];
  const out: CompiledPolicy[] = [];
  for (let n = 0; n < 100; n++)
    shapes.forEach((spec, i) => out.push(compilePolicy('MirrordPolicy', `p${i}`, `ns-${n}`, spec)));
  return out;
}

const rate = (n: number, ms: number) => (n / ms) * 1000;

/**
 * Decisions per second with the index (PolicySet) vs the same evaluation after a linear scan
 * of all 1,000 policies (what an unindexed store would do).
 */
export function benchPolicyDecisions(n = 200_000): Row {
  const all = policies();
  const set = new PolicySet();
  for (const p of all) set.upsert(p);
  const config = parseMirrordConfig({
    feature: { network: { incoming: { mode: 'steal', http_filter: { header_filter: 'x-user: me' } } } },
  });
  const targets: TargetFacts[] = Array.from({ length: 64 }, (_, i) => ({
    namespace: `ns-${(i * 37) % 100}`,
    path: i % 2 ? `deploy/web-${i % 10}` : `pod/web-${i}`,
    labels: { tier: i % 3 ? 'web' : 'db' },
    copyTarget: false,
  }));
  const applied = set.applicable(targets[1]!).length;
  if (applied > 10 || applied < 5) throw new Error(`bench setup: ${applied} policies apply, expected 5-10`);
  const indexed = () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = targets[i & 63]!;
      decideStart(set.applicable(t), { target: t, config, configGiven: true });
    }
    return performance.now() - t0;
  };
  const scan = () => {
    const t0 = performance.now();
    for (let i = 0; i < n / 10; i++) {
      const t = targets[i & 63]!;
      const ps = all.filter((p) => p.namespace === t.namespace && p.matchesPath(t.path) && p.matchesLabels(t.labels));
      decideStart(ps, { target: t, config, configGiven: true });
    }
    return performance.now() - t0;
  };
  indexed();
  scan();
  const ours = rate(n, indexed());
  const base = rate(n / 10, scan());
  return {
    name: 'policy decisions, 1,000 policies / 100 ns (≤10 apply)',
    value: ours,
    unit: 'dec/s',
    baseline: base,
    ratio: ours / base,
    target: '≥ 200k/s',
    pass: ours >= 200_000,
  };
}

/**
 * What policy evaluation adds to a session start: p99 of the policy service's whole answer
 * (config parsed and checked, profile, policies, effective config) against the p99 of one raw
 * NATS request-reply round trip measured in the same run.
 */
export async function benchPolicyStartCost(nats: NatsServer, n = 5000): Promise<Row> {
  const set = new PolicySet();
  for (const p of policies()) set.upsert(p);
  const g = { policies: set, profiles: new ProfileSet() };
  const body = {
    namespace: 'ns-7',
    target: 'deploy/web-3',
    labels: { tier: 'web' },
    config: {
      target: 'deploy/web-3',
      feature: {
        env: { include: '*_URL' },
        network: { incoming: { mode: 'steal', http_filter: { header_filter: 'x-user: me' } } },
      },
    },
  };
  const costs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    decideStartRequest(g, body);
    costs.push(performance.now() - t0);
  }
  const nc = await nats.connect();
  const sub = nc.subscribe('bench.echo', {
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
  const rtts: number[] = [];
  const payload = new TextEncoder().encode(JSON.stringify(body));
  for (let i = 0; i < 500; i++) await nc.request('bench.echo', payload);
  for (let i = 0; i < n / 5; i++) {
    const t0 = performance.now();
    await nc.request('bench.echo', payload);
    rtts.push(performance.now() - t0);
  }
  sub.unsubscribe();
  await nc.close();
  const ours = percentile(costs.slice(n / 10), 99);
  const base = percentile(rtts, 99);
  return {
    name: 'policy cost added to a session start, p99',
    value: ours * 1000,
    unit: 'µs',
    baseline: base * 1000,
    ratio: ours / base,
    target: '≤ 1 NATS hop',
    pass: ours <= base,
  };
}
