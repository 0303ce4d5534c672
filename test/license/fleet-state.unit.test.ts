import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FleetMessage } from '#shared/license/fleet.js';
import { toCsv } from '#shared/format/csv.js';
import { decideAdmission, FleetState } from '../../services/license-server/src/domain/fleet-state.js';
import { renderUsage } from '../../cli/src/render/license.js';

const T = (iso: string) => Date.parse(iso);
const seat = (cluster: string, day: string, s: string, user: string, sessions: number, extra = {}): FleetMessage => ({
  kind: 'seat',
  cluster,
  day,
  seat: s,
  user,
  sessions,
  first_at: T(`${day}T09:00:00Z`),
  last_at: T(`${day}T17:00:00Z`),
  overage: 0,
  unverified: 0,
  ...extra,
});
const dayMsg = (cluster: string, day: string, ci: number, peak: number, refused = 0): FleetMessage => ({
  kind: 'day',
  cluster,
  day,
  ci_sessions: ci,
  ci_max_concurrency: peak,
  refused,
});

/** Folds snapshots as the license server reads MIRRORD_FLEET: last value per subject. */
function fleetOf(msgs: FleetMessage[]): FleetState {
  const s = new FleetState();
  for (const m of msgs)
    s.apply(
      m.kind === 'seat'
        ? `mirrord.usage.${m.cluster}.seat.${m.day}.${m.seat}`
        : m.kind === 'day'
          ? `mirrord.usage.${m.cluster}.day.${m.day}`
          : m.kind === 'alive'
            ? `mirrord.usage.${m.cluster}.alive`
            : `mirrord-license.fleet.admission.${m.period}.${m.seat}`,
      m,
    );
  return s;
}

describe('fleet usage (license server domain)', () => {
  it('counts a seat once across clusters and days; a snapshot seen again replaces, never adds', () => {
    // given seat m1 on two days in east and one in west, m2 in west; one snapshot delivered twice, then updated
    const s = fleetOf([
      seat('east', '2026-12-02', 'm1', 'alice', 2),
      seat('east', '2026-12-03', 'm1', 'alice', 1),
      seat('west', '2026-12-03', 'm1', 'alice', 1),
      seat('west', '2026-12-04', 'm2', 'bob', 1),
      seat('west', '2026-12-04', 'm2', 'bob', 1),
      seat('west', '2026-12-04', 'm2', 'bob', 4, { overage: 1 }),
    ]);
    // when the December report is asked by seat, cluster and user
    const bySeat = s.report('2026-12-01', '2027-01-01', 'seat', 1, T('2026-12-05T00:00:00Z'));
    const byCluster = s.report('2026-12-01', '2027-01-01', 'cluster', 1, 0);
    // then two seats, one over the licence; sessions summed per seat
    assert.equal(bySeat.seats_used, 2);
    assert.equal(bySeat.overages, 1);
    assert.deepEqual(
      bySeat.rows.map((r) => [r.key, r.sessions, r.clusters.join()]),
      [
        ['m1', 4, 'east,west'],
        ['m2', 4, 'west'],
      ],
    );
    // and per cluster a seat counts in each cluster it used
    assert.deepEqual(
      byCluster.rows.map((r) => [r.key, r.seats]),
      [
        ['east', 1],
        ['west', 2],
      ],
    );
    // and a window without those days has none
    assert.equal(s.report('2026-12-05', '2026-12-06', 'seat', 1, 0).seats_used, 0);
  });

  it("sums the clusters' CI peaks per day (their peaks may overlap) and reports the highest day", () => {
    const s = fleetOf([
      dayMsg('east', '2026-12-02', 5, 3),
      dayMsg('west', '2026-12-02', 2, 2),
      dayMsg('west', '2026-12-03', 9, 4, 2),
    ]);
    const r = s.report('2026-12-01', '2027-01-01', 'seat', null, 0);
    assert.deepEqual(r.ci, { sessions: 16, max_concurrency: 5 });
    assert.equal(r.refused, 2);
    assert.deepEqual(
      s.trends('2026-12-01', '2027-01-01').map((d) => [d.day, d.ci_max_concurrency]),
      [
        ['2026-12-02', 5],
        ['2026-12-03', 4],
      ],
    );
  });

  it('marks a cluster silent after two missed heartbeats, and lists it with refusals and unverified sessions as errors', () => {
    const s = fleetOf([
      { kind: 'alive', cluster: 'east', at: T('2026-12-02T10:00:00Z'), started_at: 0, heartbeat_ms: 3_600_000 },
      { kind: 'alive', cluster: 'west', at: T('2026-12-02T12:30:00Z'), started_at: 0, heartbeat_ms: 3_600_000 },
      dayMsg('west', '2026-12-02', 0, 0, 1),
      seat('west', '2026-12-02', 'm9', 'zed', 1, { unverified: 1 }),
    ]);
    const now = T('2026-12-02T13:00:00Z');
    assert.deepEqual(
      s.clusters(now).map((c) => [c.name, c.silent]),
      [
        ['east', true],
        ['west', false],
      ],
    );
    assert.deepEqual(
      s.errors('2026-12-01', '2027-01-01', now).map((e) => [e.cluster, e.kind, e.count]),
      [
        ['east', 'silent', 1],
        ['west', 'refused', 1],
        ['west', 'unverified', 1],
      ],
    );
  });

  it("keeps a period's seats as messages fold in after it was first asked for", () => {
    // given December's seats asked for once (one seat)
    const s = fleetOf([seat('east', '2026-12-02', 'm1', 'alice', 1)]);
    const period = { id: '2026-12-01', to: '2027-01-01' };
    assert.deepEqual([...s.seatsOf(period)], ['m1']);
    // when a seat folds in on a December day, one in January, an admission and a refusal
    s.apply('a', seat('west', '2026-12-31', 'm2', 'bob', 1));
    s.apply('b', seat('west', '2027-01-01', 'm3', 'carol', 1));
    s.apply('c', {
      kind: 'admission',
      period: '2026-12-01',
      cluster: 'east',
      seat: 'm4',
      user: 'dan',
      admission: 'new',
      at: 0,
    });
    s.apply('d', {
      kind: 'admission',
      period: '2026-12-01',
      cluster: 'east',
      seat: 'm5',
      user: 'eve',
      admission: 'refused',
      at: 0,
    });
    // then December holds exactly what a fresh fold of the same messages holds
    assert.deepEqual([...s.seatsOf(period)].sort(), ['m1', 'm2', 'm4']);
    assert.deepEqual(
      s.report(period.id, period.to, 'seat', null, 0).rows.map((r) => r.key),
      ['m1', 'm2', 'm4'],
    );
  });

  it('admits a known seat, a new one while seats remain, then an overage or a refusal', () => {
    const known = new Set(['a', 'b']);
    assert.equal(decideAdmission(known, 'a', 2, false), 'known');
    assert.equal(decideAdmission(known, 'c', 3, false), 'new');
    assert.equal(decideAdmission(known, 'c', 2, true), 'overage');
    assert.equal(decideAdmission(known, 'c', 2, false), 'refused');
    assert.equal(decideAdmission(known, 'c', null, false), 'new', 'a licence without seats never refuses');
  });

  it('writes CSV cells a spreadsheet reads back: lists joined, quotes and commas quoted', () => {
    const csv = toCsv(['key', 'users'] as const, [
      { key: 'a,b', users: ['x', 'y'] },
      { key: 'say "hi"', users: [] },
    ]);
    assert.equal(csv, 'key,users\r\n"a,b",x;y\r\n"say ""hi""",\r\n');
  });

  it('renders the report for `kubectl mirrord license usage`: seats of licensed, CI, silent clusters', () => {
    const s = fleetOf([
      seat('east', '2026-12-02', 'f'.repeat(64), 'alice', 2),
      { kind: 'alive', cluster: 'east', at: T('2026-12-02T10:00:00Z'), started_at: 0, heartbeat_ms: 60_000 },
    ]);
    const now = T('2026-12-02T10:30:00Z');
    const text = renderUsage(s.report('2026-12-01', '2027-01-01', 'seat', 25, now), now);
    assert.match(text, /^Seats from 2026-12-01 to 2027-01-01 \(exclusive\): 1 of 25$/m);
    assert.match(text, /\| ffffffffffff… \| 1 /);
    assert.match(text, /^ {2}east: SILENT, no heartbeat for 30m/m);
  });
});
