import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import type { License } from '#shared/license/index.js';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState, type LedgerState } from '../../services/ledger/src/domain/state.js';
import type { LedgerCommand } from '../../services/ledger/src/domain/commands.js';
import type { LedgerStore, StoredEvent } from '../../services/ledger/src/domain/store.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { UsagePublisher } from '../../services/ledger/src/adapters/nats/usage-publisher.js';
import { Fleet } from '../../services/license-server/src/adapters/nats/fleet.js';
import { FleetState } from '../../services/license-server/src/domain/fleet-state.js';
import { eventually } from '../support/eventually.js';
import { startNatsFleet, type NatsFleet } from '../support/nats-server.js';
import { tempDir } from '../support/tmp.js';

const log = pino({ level: 'silent' });
const LICENSE: License = {
  name: 'fleet',
  organization: 'Example Org',
  expire_at: '2099-12-31',
  seats: 2,
  seat_mode: 'machine',
  billing_day: 15,
};
const at = (iso: string) => Date.parse(iso);
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
    hub = await connect({ servers: fleet.hub.url });
    east = await connect({ servers: fleet.clusters.east!.url });
    store = await openLedgerStore(`sqlite:${join(tempDir('mirrord-rollover'), 'ledger.db')}`);
    await store.init();
    server = new Fleet(hub, state, { license: LICENSE, log, version: '0.0.1', now: () => now });
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
    // when the hub has sourced the cluster's usage
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
