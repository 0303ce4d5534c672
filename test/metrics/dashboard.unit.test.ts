import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { exportedMetrics } from './emitted.js';

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
    // Collected from the services' prom-client registries (test/metrics/emitted.ts).
    const exported = new Set<string>();
    for (const [name, m] of await exportedMetrics()) {
      exported.add(name);
      if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(`${name}${s}`);
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
