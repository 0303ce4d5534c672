import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { sessionIdFromBigInt } from '#shared/ids/index.js';
import type { UsageReport } from '#shared/license/report.js';
import { eventually } from '../support/eventually.js';
import { mirrordCliCsr } from '../support/csr.js';
import { startNatsFleet, type NatsFleet } from '../support/nats-server.js';
import { freePort } from '../support/postgres.js';
import { runPlugin } from '../support/plugin.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { API, http, SessionClient, startSystem, type System } from '../support/system.js';
import { tempDir } from '../support/tmp.js';

const KEY = 'fleet-test-key-0123';
const HEARTBEAT_MS = 1500;

type Report = UsageReport;

/**
 * Licence seats across clusters, on real nats-servers: a hub (JetStream domain `hub`, where
 * the license server runs) and two clusters (`east`, `west`; their own domains) joined to it
 * as leafnodes, each running its own ledger and gateway. The licence has 2 seats; east runs
 * with overages off, west with overages on. The steps build on each other, in order.
 */
describe('licence seats across clusters (hub + two clusters, leafnodes, JetStream domains)', () => {
  let fleet: NatsFleet;
  let server: ServiceProcess;
  let serverEnv: Record<string, string>;
  let reportsUrl: string;
  const sys: Record<'east' | 'west', System> = {} as never;
  const clients: SessionClient[] = [];

  before(async () => {
    fleet = await startNatsFleet(['east', 'west']);
    const dir = tempDir('mirrord-fleet');
    const license = join(dir, 'license.yaml');
    writeFileSync(
      license,
      'name: fleet\norganization: Example Org\nexpire_at: 2099-12-31\nseats: 2\nseat_mode: machine\nbilling_day: 1\nsubscription_id: sub-fleet\n',
    );
    const port = await freePort();
    reportsUrl = `http://127.0.0.1:${port}`;
    serverEnv = {
      ...fleet.hub.env,
      OPERATOR_LICENSE_FILE: license,
      LICENSE_KEY: KEY,
      LICENSE_SERVER_ADDR: `127.0.0.1:${port}`,
    };
    server = await startService('license-server', serverEnv);
    for (const name of ['east', 'west'] as const)
      sys[name] = await startSystem(
        {
          CLUSTER_NAME: name,
          LICENSE_SERVER: fleet.leafUrl,
          ALLOW_SEAT_OVERAGES: name === 'west' ? 'true' : 'false',
          OPERATOR_LICENSE_FILE: license,
          USAGE_HEARTBEAT_MS: String(HEARTBEAT_MS),
          SESSION_UNUSED_TTL: '600',
        },
        { nats: fleet.clusters[name]! },
      );
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await sys.east?.stop();
    await sys.west?.stop();
    await server?.stop();
    await fleet?.[Symbol.asyncDispose]();
  });

  /** A machine: one key pair, as the mirrord CLI keeps one per licence, certified by each cluster's operator. */
  const machines = new Map<string, { csr: ReturnType<typeof mirrordCliCsr>; der: Map<string, string> }>();
  async function derOf(machine: string, cluster: 'east' | 'west'): Promise<string> {
    let m = machines.get(machine);
    if (!m) machines.set(machine, (m = { csr: mirrordCliCsr(machine), der: new Map() }));
    let der = m.der.get(cluster);
    if (!der) {
      const res = await fetch(`${sys[cluster].url}${API}/mirrordoperators/operator/certificate`, {
        method: 'POST',
        headers: { authorization: 'Bearer alice-token', 'content-type': 'application/json' },
        body: m.csr.pem,
      });
      assert.equal(res.status, 201);
      der = new X509Certificate((await res.json()) as string).raw.toString('base64');
      m.der.set(cluster, der);
    }
    return der;
  }
  const seatOf = (machine: string) => createHash('sha256').update(machines.get(machine)!.csr.rawKey).digest('hex');

  async function start(cluster: 'east' | 'west', machine: string, query = '', headers: Record<string, string> = {}) {
    const r = await SessionClient.connect(sys[cluster], {
      headers: { 'x-client-der': await derOf(machine, cluster), ...headers },
      query,
    });
    if (r.client) clients.push(r.client);
    return r;
  }
  async function startedData(cluster: 'east' | 'west', id: string) {
    const items = (await http(sys[cluster], 'GET', `${API}/sessions/${id}/events`)).body.items as Array<{
      type: string;
      data: Record<string, unknown>;
    }>;
    return items.find((e) => e.type === 'SessionStarted')!.data;
  }
  async function report(query = '', key = KEY): Promise<{ status: number; body: Report }> {
    const res = await fetch(`${reportsUrl}/api/v1/reports/usage?${query}`, { headers: { 'x-license-key': key } });
    return { status: res.status, body: (await res.json()) as Report };
  }
  const reportWhere = (what: string, pred: (r: Report) => boolean, query = '', timeoutMs = 20_000) =>
    eventually(
      what,
      async () => {
        const r = await report(query);
        return r.status === 200 && pred(r.body) ? r.body : false;
      },
      timeoutMs,
    );

  it('one client key used in both clusters is one seat; a second key makes two', async () => {
    // given machine A starting a session in east, then in west
    const a1 = await start('east', 'A');
    assert.ok(a1.client, JSON.stringify(a1.body));
    assert.equal((await startedData('east', a1.client.id)).admission, 'new');
    const a2 = await start('west', 'A');
    assert.ok(a2.client, JSON.stringify(a2.body));
    // then west knows the seat already (the license server published it), and the fleet counts one seat
    await eventually('west admitted A as a known seat', async () =>
      ['known', 'new'].includes(String((await startedData('west', a2.client!.id)).admission)),
    );
    // (the hub may hear of east's admission before east's snapshot: wait for both clusters' sessions)
    const one = await reportWhere('one seat in both clusters', (r) => r.rows[0]?.sessions === 2);
    assert.equal(one.seats_used, 1);
    assert.deepEqual(one.rows[0]!.clusters, ['east', 'west']);
    assert.equal(one.rows[0]!.key, seatOf('A'));
    assert.equal(one.rows[0]!.sessions, 2);
    // when machine B starts a session in east
    const b = await start('east', 'B');
    assert.ok(b.client);
    // then two seats
    const two = await reportWhere('two seats', (r) => r.seats_used === 2);
    assert.equal(two.seats_licensed, 2);
    assert.equal(two.overages, 0);
  });

  it('CI sessions take no seat and are counted apart; a garbled session_ci_info is refused by name', async () => {
    // given machine C running a CI session in west (the real CLI's `mirrord ci start` query)
    const ci = JSON.stringify({ provider: 'github', environment: 'staging', pipeline: 'deploy', triggeredBy: 'push' });
    const c = await start('west', 'C', `&session_ci_info=${encodeURIComponent(ci)}`);
    assert.ok(c.client, JSON.stringify(c.body));
    const data = await startedData('west', c.client.id);
    assert.deepEqual(data.ci, JSON.parse(ci));
    assert.equal(data.seat, undefined, 'a CI session takes no seat');
    // then the fleet counts it as CI, and still two seats
    const r = await reportWhere('one CI session', (x) => x.ci.sessions === 1);
    assert.equal(r.seats_used, 2);
    assert.equal(r.ci.max_concurrency, 1);
    // and a garbled one is refused naming the parameter
    const bad = await start('west', 'C', `&session_ci_info=${encodeURIComponent('{"provider": 3}')}`);
    assert.equal(bad.status, 422);
    assert.match(String(bad.body?.message), /session_ci_info\.provider/);
  });

  it('at the limit: overages off refuses MaxSeatCountReached and records it; overages on admits and records an overage', async () => {
    // given both seats taken; when machine D starts in east (overages off)
    const refused = await start('east', 'D', '', { 'x-session-id': '4242424242' });
    // then it is refused, clearly, and the refusal is in east's ledger (with the seat) and the report
    assert.equal(refused.status, 403);
    assert.equal(refused.body?.reason, 'MaxSeatCountReached');
    assert.match(String(refused.body?.message), /all 2 licensed seats are taken/);
    const id = sessionIdFromBigInt(4242424242n);
    const events = (await http(sys.east, 'GET', `${API}/sessions/${id}/events`)).body.items as Array<{
      type: string;
      data: Record<string, unknown>;
    }>;
    const rejected = events.find((e) => e.type === 'SessionRejected');
    assert.equal(rejected?.data.code, 'MaxSeatCountReached', JSON.stringify(events));
    assert.equal(rejected?.data.seat, seatOf('D'));
    await reportWhere('the refusal reported', (r) => r.refused === 1);
    // when D starts in west (overages on), it is admitted as an overage
    const d = await start('west', 'D');
    assert.ok(d.client, JSON.stringify(d.body));
    assert.equal((await startedData('west', d.client.id)).admission, 'overage');
    const r = await reportWhere('three seats, one over', (x) => x.seats_used === 3 && x.overages === 1);
    assert.equal(r.rows.find((x) => x.key === seatOf('D'))?.clusters.join(), 'west');
  });

  it("the usage report and `kubectl mirrord license usage` agree with the ledgers' own counts", async () => {
    // given each cluster's own count (its ledger, on the operator object)
    const own = async (c: 'east' | 'west') =>
      (
        (await http(sys[c], 'GET', `${API}/mirrordoperators/operator`)).body.status as {
          statistics: { seats_used: number };
        }
      ).statistics.seats_used;
    // (once both clusters' snapshots of today are on the hub: admissions arrive before them)
    const get = (path: string) => fetch(`${reportsUrl}${path}`, { headers: { 'x-license-key': KEY } });
    const today = new Date().toISOString().slice(0, 10);
    await eventually('every snapshot of today on the hub', async () => {
      const trends = (await (await get('/api/v1/reports/usage/trends')).json()) as { days: Array<{ day: string }> };
      return isDeepStrictEqual(
        trends.days.find((d) => d.day === today),
        { day: today, seats: 3, sessions: 4, ci_sessions: 1, ci_max_concurrency: 1, refused: 1 },
      );
    });
    const byCluster = (await report('primary_key=cluster')).body;
    // then the report's row per cluster is that cluster's count: east A, B; west A, D (C ran in CI)
    for (const c of ['east', 'west'] as const)
      assert.equal(byCluster.rows.find((r) => r.key === c)?.seats, await own(c), c);
    assert.equal(await own('east'), 2);
    // and the plugin shows the same, as JSON, CSV and text
    const args = ['license', 'usage', '--server', reportsUrl, '--key', KEY];
    const json = await runPlugin(sys.east, [...args, '--by', 'cluster', '-o', 'json']);
    assert.equal(json.status, 0, json.stderr);
    const viaCli = JSON.parse(json.stdout) as Report;
    assert.equal(viaCli.seats_used, 3);
    assert.deepEqual(
      viaCli.rows.map((r) => [r.key, r.seats]),
      byCluster.rows.map((r) => [r.key, r.seats]),
    );
    const csv = await runPlugin(sys.east, [...args, '--by', 'user', '-o', 'csv']);
    assert.equal(csv.status, 0, csv.stderr);
    assert.match(csv.stdout, /^key,seats,sessions,overages,clusters,users,first_at,last_at\r\n/);
    assert.match(csv.stdout, /^alice,3,\d+,1,east;west,alice,/m);
    const text = await runPlugin(sys.east, args);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      /^Seats from \d{4}-\d{2}-01 to \d{4}-\d{2}-01 \(exclusive\): 3 of 2 \(1 over the licence\)$/m,
    );
    assert.match(text.stdout, /^CI sessions: 1, at most 1 at once$/m);
    assert.match(text.stdout, /^ {2}east: last heartbeat /m);
    // and the errors report shows east's refusal
    const errors = await (await get('/api/v1/reports/errors?format=csv')).text();
    assert.match(errors, new RegExp(`^${today},east,refused,1\r$`, 'm'));
    // and a wrong key is refused, naming the header
    const wrong = await runPlugin(sys.east, ['license', 'usage', '--server', reportsUrl, '--key', 'not-the-key']);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /x-license-key: does not match/);
    assert.equal((await report('primary_key=machine')).status, 400);
    const badDay = await report('from=2026-02-30');
    assert.equal(badDay.status, 400);
    assert.match((badDay.body as unknown as { message: string }).message, /^from: expected a day YYYY-MM-DD/);
  });

  it('the hub unreachable admits and records unverified; the hub killed and restarted converges to the same counts', async () => {
    const before = await reportWhere('settled', (r) => r.seats_used === 3);
    // given the hub's nats-server and the license server killed
    await server.kill9();
    await fleet.hub.kill9();
    // when machine E starts in west, it is admitted, recorded unverified
    const e = await start('west', 'E');
    assert.ok(e.client, JSON.stringify(e.body));
    assert.equal((await startedData('west', e.client.id)).admission, 'unverified');
    // when the hub and the license server come back
    await fleet.hub.restart();
    server = await startService('license-server', serverEnv);
    // then the counts are what they were, plus E, unverified
    const after = await reportWhere('E counted after the restart', (r) => r.seats_used === 4, '', 30_000);
    assert.equal(after.unverified_sessions, 1);
    assert.equal(after.overages, before.overages);
    assert.equal(after.refused, before.refused);
    assert.deepEqual(after.ci, before.ci);
  });

  it('a cluster whose ledger stops reporting is shown silent after two heartbeats, and the plugin exits 3', async () => {
    // given west's ledger stopped (its heartbeat every 1.5 s stops with it)
    await sys.west.ledger.stop();
    // then the report marks west silent, east not
    const r = await reportWhere(
      'west silent',
      (x) => x.clusters.some((c) => c.name === 'west' && c.silent),
      '',
      15_000,
    );
    assert.equal(r.clusters.find((c) => c.name === 'east')?.silent, false);
    const cli = await runPlugin(sys.east, ['license', 'usage', '--server', reportsUrl, '--key', KEY]);
    assert.equal(cli.status, 3, cli.stderr);
    assert.match(cli.stdout, /^ {2}west: SILENT, no heartbeat for /m);
  });
});
