import { licenseFromSubject, licenseSubject } from '#shared/nats/index.js';
import pino from 'pino';
import type { FleetMessage } from '#shared/license/fleet.js';
import { NatsSeatGate } from '../services/gateway/src/adapters/nats/seat-gate.js';
import { Fleet } from '../services/license-server/src/adapters/nats/fleet.js';
import { FleetState } from '../services/license-server/src/domain/fleet-state.js';
import { eventually } from '../test/support/eventually.js';
import { startNatsFleet } from '../test/support/nats-server.js';
import { percentile, type Row } from './support/util.js';

const silent = pino({ level: 'silent' });

async function timed(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * Seat admission as a gateway pays for it on the session start path, on the fleet's topology
 * (hub + one cluster, leafnode): a new seat is one request to the license server, which
 * records it on the hub's JetStream before it answers; a known seat is answered from the
 * published seat set. Baseline: a bare request-reply over the same leafnode.
 */
export async function benchLicense(log: (s: string) => void, n = 400): Promise<Row[]> {
  const fleet = await startNatsFleet(['east']);
  const hub = await fleet.hub.connect('license-server');
  const east = await fleet.clusters.east!.connect('gateway');
  const license = {
    name: 'bench',
    organization: 'bench',
    expire_at: '2099-12-31',
    seat_mode: 'machine',
    billing_day: 1,
  } as const;
  const server = new Fleet(hub, new FleetState(), { license, log: silent, version: '0.0.1' });
  const gate = new NatsSeatGate(east, { cluster: 'east', allowOverages: true, log: silent });
  try {
    // The baseline answers the same wire (east's account maps `admit` to the hub) before the
    // license server does: the same leafnode, accounts and permissions, no work.
    const echo = hub.subscribe(licenseFromSubject('east', 'admit'), {
      callback: (_e, m) => void m.respond('{"admission":"new"}'),
    });
    await hub.flush();
    await eventually('the echo reachable over the leafnode', async () => {
      await east.request(licenseSubject('admit'), '{}', { timeout: 500 });
      return true;
    });
    log(`  ${n} bare requests over the leafnode, ${n} new seats, ${n} known seats…`);
    const raw = percentile(await timed(n, () => east.request(licenseSubject('admit'), '{}')), 50);
    echo.unsubscribe();
    await server.start();
    gate.start();
    const fresh = percentile(await timed(n, (i) => gate.admit(`seat-${i}`, 'bench')), 50);
    await eventually(
      'the seat set reached the gateway',
      async () => (await gate.admit(`seat-${n - 1}`, 'bench')).admission === 'known',
    );
    const known = percentile(await timed(n, (i) => gate.admit(`seat-${i}`, 'bench')), 50);
    return [
      {
        name: 'seat admission: new seat, recorded on the hub (p50)',
        value: fresh,
        unit: 'ms',
        baseline: raw,
        ratio: fresh / raw,
        target: '≤ 4× a bare request over the leafnode',
        pass: fresh / raw <= 4,
      },
      {
        name: 'seat admission: known seat, from the seat set (p50)',
        value: known,
        unit: 'ms',
        baseline: raw,
        ratio: known / raw,
        target: '≤ 0.1× (no round trip)',
        pass: known / raw <= 0.1,
      },
    ];
  } finally {
    gate.stop();
    await server.stop();
    await east.drain();
    await hub.drain();
    await fleet[Symbol.asyncDispose]();
  }
}

/**
 * The usage report over a large month: 2,000 seats using 2 clusters on 20 days (80,000
 * snapshots), folded and reported by seat. Baseline: the raw work of the same answer — one
 * pass over the snapshots into a Set of seats.
 */
export function benchLicenseReport(): Row[] {
  const state = new FleetState();
  const msgs: Array<[string, FleetMessage]> = [];
  for (let d = 1; d <= 20; d++)
    for (const cluster of ['east', 'west'])
      for (let s = 0; s < 2000; s++) {
        const day = `2026-12-${String(d).padStart(2, '0')}`;
        msgs.push([
          `mirrord.usage.${cluster}.seat.${day}.${s}`,
          {
            kind: 'seat',
            cluster,
            day,
            seat: `seat-${s}`,
            user: `user-${s % 500}`,
            sessions: 1,
            first_at: d,
            last_at: d,
            overage: 0,
            unverified: 0,
          },
        ]);
      }
  for (const [subject, m] of msgs) state.apply(subject, m);
  const runs = 5;
  const t0 = performance.now();
  let seats = 0;
  for (let i = 0; i < runs; i++) seats = state.report('2026-12-01', '2027-01-01', 'seat', null, 0).seats_used;
  const ours = (performance.now() - t0) / runs;
  const t1 = performance.now();
  let rawSeats = 0;
  for (let i = 0; i < runs; i++) {
    const set = new Set<string>();
    for (const [, m] of msgs) if (m.kind === 'seat' && m.day >= '2026-12-01' && m.day < '2027-01-01') set.add(m.seat);
    rawSeats = set.size;
  }
  const raw = (performance.now() - t1) / runs;
  if (seats !== 2000 || rawSeats !== 2000) throw new Error(`bench setup: ${seats} / ${rawSeats} seats, expected 2000`);
  // What each admission reads: the period's seats (kept as messages fold, not re-aggregated).
  const period = { id: '2026-12-01', to: '2027-01-01' };
  state.seatsOf(period);
  const t2 = performance.now();
  for (let i = 0; i < 1000; i++) if (state.seatsOf(period).size !== 2000) throw new Error('bench: seats');
  const perAdmission = (performance.now() - t2) / 1000;
  const row = (name: string, value: number, target: string, max: number): Row => ({
    name,
    value,
    unit: 'ms',
    baseline: raw,
    ratio: value / raw,
    target,
    pass: value / raw <= max,
  });
  return [
    row('usage report, 2,000 seats × 2 clusters × 20 days', ours, '≤ 25× a bare pass into a Set', 25),
    row("the period's seats per admission, same month", perAdmission, '≤ 0.01× (kept, not re-read)', 0.01),
  ];
}
