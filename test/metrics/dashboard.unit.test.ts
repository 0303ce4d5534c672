import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildRegistry } from '../../services/gateway/src/adapters/metrics/registry.js';
import { MetricsState } from '../../services/gateway/src/domain/metrics-state.js';
import { TrafficMetrics } from '../../services/gateway/src/adapters/metrics/traffic.js';
import { DURATION_BUCKETS } from '#shared/ledger/index.js';

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

/** Every query of the shipped Grafana dashboard names a metric the gateway really exports. */
describe('deploy/grafana/mirrord-teams.json', () => {
  it("queries only exported metrics, and uses each of the seed's", async () => {
    const dash = JSON.parse(
      readFileSync(new URL('../../deploy/grafana/mirrord-teams.json', import.meta.url), 'utf8'),
    ) as { panels: Panel[] };
    const registry = buildRegistry(new MetricsState(DURATION_BUCKETS), {
      activeSessions: async () => 0,
      heldPorts: async () => ({ steal: 0, mirror: 0 }),
      consumerLag: async () => [],
      licenseValidSeconds: () => 1,
      appendLatency: async () => ({ bounds: [0.001], counts: [1, 0], sum: 0.0005, count: 1 }),
      jiraOutcomes: async () => ({ delivered: 1 }),
    });
    const exported = new Set<string>();
    const relay = await new TrafficMetrics().registry.getMetricsAsJSON();
    for (const m of [...(await registry.getMetricsAsJSON()), ...relay]) {
      exported.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(`${m.name}${s}`);
    }
    const used = new Set<string>();
    for (const p of dash.panels) {
      assert.ok(p.targets.length > 0, `panel "${p.title}" has no query`);
      for (const t of p.targets) {
        const names = t.expr.match(/\bmirrord_[a-z_]+\b/g) ?? [];
        assert.ok(names.length > 0, `panel "${p.title}" queries no mirrord metric: ${t.expr}`);
        for (const n of names) {
          assert.ok(exported.has(n), `panel "${p.title}" queries ${n}, which is not exported`);
          used.add(n.replace(/_(bucket|sum|count)$/, ''));
          used.add(n);
        }
      }
    }
    for (const seed of [
      'mirrord_sessions_create_total',
      'mirrord_sessions_duration',
      'mirrord_license_valid_seconds',
      'mirrord_teams_jira_deliveries_total',
      'mirrord_teams_ledger_append_seconds',
      // The relay's traffic, named as the real operator names it.
      'mirrord_stolen_connections_count',
      'mirrord_stolen_requests_count',
      'mirrord_teams_relayed_bytes_total',
    ])
      assert.ok(used.has(seed), `${seed} has no panel`);
  });
});
