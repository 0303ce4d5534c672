import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import pino from 'pino';
import { request } from '#shared/contracts/index.js';
import { licenseContracts } from '#shared/license/fleet.js';
import { EVENTS_STREAM, FLEET_STREAM, licenseFromSubject, licenseSubject } from '#shared/nats/index.js';
import { SERVICE_IDENTITIES } from '#shared/nats/permissions.js';
import { Fleet } from '../../services/license-server/src/adapters/nats/fleet.js';
import { FleetState } from '../../services/license-server/src/domain/fleet-state.js';
import { fleetLeafnodeConf } from '../support/fleet-leafnode.js';
import { eventually } from '../support/eventually.js';
import { startNatsFleet, startNatsServer, type NatsFleet } from '../support/nats-server.js';

const log = pino({ level: 'silent' });
const LICENSE = {
  name: 'iso',
  organization: 'Example Org',
  expire_at: '2099-12-31',
  seats: 25,
  seat_mode: 'machine',
  billing_day: 1,
} as const;

/**
 * The licence fleet as a hostile cluster sees it (issue 25): a hub and two clusters, each
 * cluster's leafnode bound to its own account at the hub. From cluster east, with every
 * credential east has (each service's, and an all-permissions local user), nothing reaches
 * cluster west's or the hub's JetStream, and what east says about seats and usage is recorded
 * as east's, whatever its messages claim.
 */
describe('fleet isolation: accounts per cluster at the hub, no JetStream across leafnodes', () => {
  let fleet: NatsFleet;
  let hub: NatsConnection;
  let eastAll: NatsConnection;
  let westAll: NatsConnection;
  let server: Fleet;
  const state = new FleetState();

  before(async () => {
    fleet = await startNatsFleet(['east', 'west']);
    hub = await fleet.hub.connect('license-server');
    server = new Fleet(hub, state, { license: LICENSE, log, version: '0.0.1' });
    await server.start();
    eastAll = await fleet.clusters.east!.connect();
    westAll = await fleet.clusters.west!.connect();
    // west's own event stream, to be attacked from east
    await (await jetstreamManager(westAll)).streams.add({ name: EVENTS_STREAM, subjects: ['mirrord.events.>'] });
    await eventually('east reaches the license server', async () => {
      await request(eastAll, licenseContracts.seats, {}, 500);
      return true;
    });
  });
  after(async () => {
    await server?.stop();
    for (const nc of [hub, eastAll, westAll]) await nc?.close();
    await fleet?.[Symbol.asyncDispose]();
  });

  const attacks = [
    `$JS.west.API.STREAM.INFO.${EVENTS_STREAM}`,
    `$JS.west.API.STREAM.PURGE.${EVENTS_STREAM}`,
    `$JS.west.API.STREAM.DELETE.${EVENTS_STREAM}`,
    `$JS.hub.API.STREAM.INFO.${FLEET_STREAM}`,
    `$JS.hub.API.STREAM.DELETE.${FLEET_STREAM}`,
    `$JS.hub.API.STREAM.PURGE.${FLEET_STREAM}`,
    // another cluster's licence subjects as the hub names them
    licenseFromSubject('west', 'usage'),
    licenseFromSubject('west', 'admit'),
  ];

  it("no JetStream API crosses a leafnode: east reads, purges or deletes neither west's stream nor the hub's", async () => {
    for (const subject of attacks)
      await assert.rejects(
        eastAll.request(subject, '{}', { timeout: 1000 }),
        (e: Error) => /no responders/i.test(e.message),
        `${subject} answered from east`,
      );
    // east's own services' credentials cannot even send them (their permissions name none)
    for (const id of SERVICE_IDENTITIES) {
      const nc = await fleet.clusters.east!.connect(id);
      for (const subject of attacks.slice(0, 3))
        await assert.rejects(nc.request(subject, '{}', { timeout: 1000 }), `${id} sent ${subject}`);
      await nc.close();
    }
    // and both streams are still there, whole
    assert.equal((await (await jetstreamManager(westAll)).streams.info(EVENTS_STREAM)).config.name, EVENTS_STREAM);
    assert.equal((await (await jetstreamManager(hub)).streams.info(FLEET_STREAM)).config.name, FLEET_STREAM);
    // nor does the hub (even its all-permissions user) reach a cluster's JetStream
    const hubAll = await fleet.hub.connect();
    await assert.rejects(hubAll.request(`$JS.east.API.INFO`, '', { timeout: 1000 }), /no responders/i);
    await hubAll.close();
  });

  it('a seat east admits is recorded as east’s, whatever cluster its request names', async () => {
    const gateway = await fleet.clusters.east!.connect('gateway');
    const r = await request(gateway, licenseContracts.admit, {
      cluster: 'west',
      seat: 'forged-seat',
      user: 'mallory',
      allow_overages: true,
    });
    assert.equal(r.admission, 'new');
    const row = state
      .report('2000-01-01', '2100-01-01', 'seat', 25, Date.now())
      .rows.find((x) => x.key === 'forged-seat');
    assert.deepEqual(row?.clusters, ['east']);
    await gateway.close();
  });

  it('east cannot report usage for west, nor for a cluster that does not exist', async () => {
    const ledger = await fleet.clusters.east!.connect('ledger');
    const snap = (cluster: string) => ({
      kind: 'seat' as const,
      cluster,
      day: '2026-12-07',
      seat: 'seat-x',
      user: 'x',
      sessions: 30,
      first_at: 1,
      last_at: 2,
      overage: 0,
      unverified: 0,
    });
    for (const cluster of ['west', 'ghost-1'])
      await assert.rejects(request(ledger, licenseContracts.usage, snap(cluster)), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'Forbidden');
        assert.match(e.message, new RegExp(`cluster "east" may report only its own usage, not "${cluster}"`));
        return true;
      });
    assert.deepEqual(await request(ledger, licenseContracts.usage, snap('east')), { recorded: true });
    const clusters = state.report('2000-01-01', '2100-01-01', 'cluster', 25, Date.now()).rows.map((r) => r.key);
    assert.deepEqual(clusters, ['east']);
    await ledger.close();
  });

  it('a cluster the hub does not know cannot join, nor can one with a known name and the wrong password', async () => {
    for (const rogue of [
      { name: 'rogue', password: 'guess' },
      { name: 'east', password: 'not-easts-password' },
    ]) {
      const before = fleet.hub.logLines(/authentication error|Authorization Violation/i).length;
      const server = await startNatsServer({
        extraConf: `server_name: ${rogue.name}-x\n${fleetLeafnodeConf(fleet.leafUrl, rogue)}`,
      });
      try {
        // the hub refuses its leafnode (the positive signal), and nothing of the licence answers there
        await eventually(
          `the hub refuses ${rogue.name}'s leafnode`,
          () => fleet.hub.logLines(/authentication error|Authorization Violation/i).length > before,
        );
        const nc = await server.connect();
        await assert.rejects(nc.request(licenseSubject('join'), '{}', { timeout: 1000 }), /no responders/i);
        await nc.close();
      } finally {
        await server[Symbol.asyncDispose]();
      }
    }
  });
});
