import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import type { License } from '#shared/license/index.js';
import { Fleet } from '../../services/license-server/src/adapters/nats/fleet.js';
import { FleetState } from '../../services/license-server/src/domain/fleet-state.js';
import { eventually } from '../support/eventually.js';
import { startNatsFleet, startNatsServer, type NatsFleet, type NatsServer } from '../support/nats-server.js';
import { tempDir } from '../support/tmp.js';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState, type LedgerState } from '../../services/ledger/src/domain/state.js';
import type { LedgerCommand } from '../../services/ledger/src/domain/commands.js';
import type { LedgerStore, StoredEvent } from '../../services/ledger/src/domain/store.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { UsagePublisher } from '../../services/ledger/src/adapters/nats/usage-publisher.js';

const log = pino({ level: 'silent' });
const LICENSE: License = {
  name: 'fleet',
  organization: 'Example Org',
  expire_at: '2099-12-31',
  seats: 1,
  seat_mode: 'machine',
  billing_day: 15,
};
const at = (iso: string) => Date.parse(iso);

/**
 * The license server's fleet on a real nats-server, with its clock in the test's hands: billing
 * periods turn over on the licence's billing day, and a restarted license server folds the
 * same seats back from MIRRORD_FLEET.
 */
describe('license server: seats per billing period', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let now = at('2026-12-20T10:00:00Z');
  const fleets: Fleet[] = [];
  const states: FleetState[] = [];
  const open = async () => {
    const state = new FleetState();
    const fleet = new Fleet(nc, state, { license: LICENSE, log, version: '0.0.1', now: () => now });
    await fleet.start();
    fleets.push(fleet);
    states.push(state);
    return { fleet, state };
  };

  before(async () => {
    nats = await startNatsServer();
    nc = await nats.connect();
  });
  after(async () => {
    for (const f of fleets) await f.stop();
    await nc?.drain();
    await nats?.[Symbol.asyncDispose]();
  });

  it('a billing-day rollover starts a new period: the seat set empties and a seat is new again', async () => {
    // given a one-seat licence billing on the 15th, and two seats admitted in December's period
    const { fleet } = await open();
    assert.equal((await fleet.admit('east', 'seat-a', 'alice', false)).admission, 'new');
    assert.equal((await fleet.admit('west', 'seat-a', 'alice', false)).admission, 'known');
    const over = await fleet.admit('west', 'seat-b', 'bob', true);
    assert.deepEqual(over, { admission: 'overage', seats_used: 2, seats_licensed: 1 });
    assert.equal((await fleet.admit('east', 'seat-c', 'carol', false)).admission, 'refused');
    assert.deepEqual(fleet.seatSet().seats, ['seat-a', 'seat-b']);
    assert.equal(fleet.seatSet().period, '2026-12-15');
    // when the clock passes the next billing day
    now = at('2027-01-15T00:00:01Z');
    // then the period is January's, with no seat taken, and the first seat in it is free again
    assert.deepEqual(fleet.seatSet(), {
      period: '2027-01-15',
      until: at('2027-02-15T00:00:00Z'),
      seats: [],
      seats_licensed: 1,
    });
    assert.equal((await fleet.admit('west', 'seat-b', 'bob', false)).admission, 'new');
    assert.equal((await fleet.admit('east', 'seat-a', 'alice', false)).admission, 'refused');
  });

  it('a restarted license server folds the same seats back past garbled messages, and the gateways see the seat set', async () => {
    // given the seat set as gateways receive it
    const seen: string[] = [];
    const sub = nc.subscribe('mirrord-license.seats', { callback: (_e, m) => void seen.push(m.string()) });
    // and a garbled message and a stranger's JSON on the fleet stream
    const js = (await jetstreamManager(nc)).jetstream();
    await js.publish('mirrord-license.fleet.garbled', '\u0000not json');
    await js.publish('mirrord-license.fleet.stranger', JSON.stringify({ kind: 'seat', seat: 7 }));
    // when a second license server starts on the same stream (the first one's state is gone)
    await fleets.shift()!.stop();
    states.shift();
    const { fleet, state } = await open();
    // then January has seat-b, December seat-a and seat-b (seat-b over the licence), refusals counted
    assert.deepEqual(fleet.seatSet().seats, ['seat-b']);
    const december = state.report('2026-12-15', '2027-01-15', 'seat', 1, now);
    assert.deepEqual(
      december.rows.map((r) => [r.key, r.overages]),
      [
        ['seat-a', 0],
        ['seat-b', 1],
      ],
    );
    assert.equal(december.refused, 1);
    await eventually('the seat set published', () => seen.some((s) => JSON.parse(s).seats.includes('seat-b')));
    sub.unsubscribe();
  });

  it('records the usage a cluster relays once however often it comes, and only under the cluster it came from', async () => {
    // given a cluster's snapshot of one seat's day
    const snap = {
      kind: 'seat' as const,
      cluster: 'local',
      day: '2027-01-16',
      seat: 'seat-z',
      user: 'zed',
      sessions: 3,
      first_at: at('2027-01-16T09:00:00Z'),
      last_at: at('2027-01-16T11:00:00Z'),
      overage: 0,
      unverified: 1,
    };
    const fleet = fleets[0]!;
    const state = states[0]!;
    // when it joins twice and relays the snapshot twice (a relay restarted from its stream's start)
    assert.deepEqual(fleet.join('local'), { joined: true });
    assert.deepEqual(fleet.join('local'), { joined: false });
    assert.deepEqual(await fleet.usage('local', snap), { recorded: true });
    assert.deepEqual(await fleet.usage('local', snap), { recorded: false });
    // and another cluster's connection sends it as its own
    await assert.rejects(fleet.usage('east', snap), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'Forbidden');
      assert.match(e.message, /cluster "east" may report only its own usage, not "local"/);
      return true;
    });
    // then its seat is in the period, unverified once
    assert.ok(fleet.seatSet().seats.includes('seat-z'));
    const r = state.report('2027-01-15', '2027-02-15', 'user', 1, now);
    assert.equal(r.seats_used, 2);
    assert.equal(r.unverified_sessions, 1);
    assert.deepEqual(
      r.rows.find((x) => x.key === 'zed'),
      {
        key: 'zed',
        seats: 1,
        sessions: 3,
        clusters: ['local'],
        users: ['zed'],
        first_at: snap.first_at,
        last_at: snap.last_at,
        overages: 0,
      },
    );
  });
});

const client = (user: string) => ({
  client_user: user,
  client_name: user,
  client_hostname: `${user}-host`,
  client_id: `${user}-id`,
  user_id: `${user}-key`,
  client_cli_version: '3.250.0',
});

/**
 * The billing-day rollover on the fleet's own topology: a cluster's ledger store and usage
 * publisher (its clock set to the 15th, the licence's billing day) on the cluster's
 * nats-server, the license server's fleet on the hub's, joined over the leafnode by domain.
 */
describe('billing-day rollover across the fleet (hub + cluster, leafnode, JetStream domains)', () => {
  let fleet: NatsFleet;
  let hub: NatsConnection;
  let east: NatsConnection;
  let store: LedgerStore;
  let publisher: UsagePublisher;
  let server: Fleet;
  const state = new FleetState();
  const now = at('2026-12-15T12:00:00Z');

  /** Commands through the real decider at given times, appended to the store and fed to the publisher. */
  let ledger: LedgerState = initialState();
  async function run(time: string, cmd: LedgerCommand): Promise<void> {
    const d = decide(cmd, ledger, { now: at(time), newEventId: () => randomUUID() });
    for (const e of d.events) ledger = evolve(ledger, e);
    const [out] = await store.appendBatch([{ events: d.events }]);
    assert.ok(out!.ok);
    publisher.onCommitted(d.events.map((event): StoredEvent => ({ event })));
  }
  const start = (id: string, user: string, seat: string): LedgerCommand => ({
    type: 'StartSession',
    session_id: id,
    target: 'deployment/web',
    namespace: 'default',
    agent: 'job',
    client: client(user),
    seat,
  });

  before(async () => {
    fleet = await startNatsFleet(['east']);
    hub = await fleet.hub.connect('license-server');
    east = await fleet.clusters.east!.connect('ledger');
    store = await openLedgerStore(`sqlite:${join(tempDir('mirrord-rollover'), 'ledger.db')}`);
    await store.init();
    server = new Fleet(hub, state, { license: { ...LICENSE, seats: 2 }, log, version: '0.0.1', now: () => now });
    await server.start();
    publisher = new UsagePublisher(east, store, { cluster: 'east', heartbeatMs: 60_000, log, now: () => now });
    await publisher.start();
  });
  after(async () => {
    await publisher?.drain();
    await server?.stop();
    await store?.close();
    await east?.drain();
    await hub?.drain();
    await fleet?.[Symbol.asyncDispose]();
  });

  it('seats of the period before the billing day stay there; the new period starts empty of them', async () => {
    // given alice's machine used on the 14th (November's period) and bob's on the 15th (December's)
    await run('2026-12-14T10:00:00Z', start('00000000000000A1', 'alice', 'seat-a'));
    await run('2026-12-14T11:00:00Z', {
      type: 'EndSession',
      session_id: '00000000000000A1',
      client_user: 'alice',
      reason: 'ClientClosed',
    });
    await run('2026-12-15T09:00:00Z', start('00000000000000B2', 'bob', 'seat-b'));
    // when the cluster's ledger has relayed its usage to the hub
    await eventually('bob counted on the hub', () => server.seatSet().seats.includes('seat-b'), 20_000);
    // then December's period (from the 15th) holds bob only, November's alice only
    assert.deepEqual(server.seatSet(), {
      period: '2026-12-15',
      until: at('2027-01-15T00:00:00Z'),
      seats: ['seat-b'],
      seats_licensed: 2,
    });
    await eventually(
      'alice counted in November',
      () => state.report('2026-11-15', '2026-12-15', 'seat', 2, now).seats_used === 1,
    );
    assert.deepEqual(
      state.report('2026-11-15', '2026-12-15', 'seat', 2, now).rows.map((r) => [r.key, r.clusters.join()]),
      [['seat-a', 'east']],
    );
    // and alice is a new seat again this period, the one left; a third machine is over the licence
    assert.equal((await server.admit('east', 'seat-a', 'alice', false)).admission, 'new');
    assert.equal((await server.admit('east', 'seat-c', 'carol', false)).admission, 'refused');
  });
});
