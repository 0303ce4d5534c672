import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { createNatsTls } from '../../scripts/bootstrap-secrets.js';
import { inboxPrefix, licenseFromSubject, licenseSubject } from '#shared/nats/subjects.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/postgres.js';
import {
  containerOf,
  find,
  jobSecrets,
  layOut,
  natsTest,
  podEnv,
  rebaseMounts,
  renderOverlay,
  runNats,
  type Doc,
  type RunningNats,
  type Secrets,
} from './rendered-pod.js';

/**
 * The licence fleet as deploy/ installs it (issue 25): the hub overlay (deploy/license-server with
 * fleetClusters and hubLeafAddress set) and a cluster overlay (deploy/ + components/license-fleet),
 * rendered by kubectl, their Secrets as the bootstrap Jobs make them, the leaf Secret copied to
 * the cluster as deploy/README.md says, the files where the pods mount them, and both NATS
 * configurations run by real nats-servers on loopback.
 */
/** What a cluster's nats-server logs when the hub refuses its leafnode user. */
const AUTH = /Authorization Violation/;

describe('deploy/ licence fleet: the rendered hub and clusters as real nats-servers', () => {
  const ports: Record<string, number> = {};
  let hubDocs: Doc[];
  let hubSecrets: Secrets;
  let hub: RunningNats;
  let hubConf: string;
  let hubRoot: string;
  let hubEnv: Record<string, string>;
  const clusters: RunningNats[] = [];
  const conns: NatsConnection[] = [];

  /** A cluster's overlay rendered and its Secrets made, with `leaf` as its mirrord-license-leaf. */
  async function cluster(name: string, leaf: Record<string, string> | undefined) {
    const docs = await renderOverlay(['deploy'], ['deploy/components/license-fleet'], {
      'mirrord-settings': { clusterName: name, licenseServer: `nats-leaf://127.0.0.1:${ports.leaf}` },
    });
    const secrets = await jobSecrets(docs);
    if (leaf) secrets.set('mirrord-license-leaf', leaf);
    const sts = find(docs, 'StatefulSet', 'mirrord-nats');
    const c = containerOf(sts, 'nats');
    const root = layOut(docs, sts, c, secrets);
    const p = { client: await freePort(), http: await freePort(), routes: [await freePort(), await freePort(), await freePort()] };
    const conf = rebaseMounts(c, root, {
      '0.0.0.0:4222': p.client,
      '127.0.0.1:8222': p.http,
      // pod 0's route port; the other two pods' are loopback ports nobody listens on
      '0.0.0.0:6222': p.routes[0]!,
      ...Object.fromEntries(p.routes.map((port, i) => [`mirrord-nats-${i}.mirrord-nats:6222`, port])),
    });
    return { docs, secrets, conf, env: podEnv(c, docs, secrets, 'mirrord-nats-0'), port: p.client };
  }

  /** A service of a cluster, as deploy/ connects it: its seed, the CA, the pod name NATS_URL uses. */
  const dial = (port: number, secrets: Secrets, prefix: string, id: string, servername: string) =>
    connect({
      servers: `tls://127.0.0.1:${port}`,
      inboxPrefix: inboxPrefix(id),
      authenticator: nkeyAuthenticator(new TextEncoder().encode(secrets.get(`${prefix}-${id}`)!.nkey!.trim())),
      tls: { ca: secrets.get(`${prefix}-ca`)!['ca.crt'], servername } as ConnectionOptions['tls'],
      timeout: 3000,
      reconnect: false,
    }).then((nc) => (conns.push(nc), nc));

  before(async () => {
    Object.assign(ports, { client: await freePort(), leaf: await freePort(), http: await freePort() });
    // the hub as an overlay sets it: two clusters, and the address they dial (its leaf port here)
    hubDocs = await renderOverlay(['deploy/license-server'], [], {
      'mirrord-license-settings': { fleetClusters: 'east,west', hubLeafAddress: `127.0.0.1:${ports.leaf}` },
    });
    hubSecrets = await jobSecrets(hubDocs);
    const sts = find(hubDocs, 'StatefulSet', 'mirrord-license-nats');
    const c = containerOf(sts, 'nats');
    hubRoot = layOut(hubDocs, sts, c, hubSecrets);
    hubConf = rebaseMounts(c, hubRoot, {
      '0.0.0.0:4222': ports.client!,
      '127.0.0.1:8222': ports.http!,
      '0.0.0.0:7422': ports.leaf!,
    });
    hubEnv = podEnv(c, hubDocs, hubSecrets, 'mirrord-license-nats-0');
    hub = await runNats(hubConf, hubEnv);
    await respond();
  });
  /** The license server's side: a responder on the hub as the license-server identity, answering with the subject. */
  async function respond() {
    const nc = await dial(ports.client!, hubSecrets, 'mirrord-license-nats', 'license-server', 'mirrord-license-nats');
    for (const wire of ['seats.get', 'join'] as const)
      nc.subscribe(licenseFromSubject('*', wire), { callback: (_e, m) => void m.respond(m.subject) });
    await nc.flush();
  }
  /** What a cluster's gateway gets for seats.get, once its leafnode is up. */
  const seatsFrom = (gateway: NatsConnection) =>
    eventually('the cluster reaches the hub', async () =>
      new TextDecoder().decode((await gateway.request(licenseSubject('seats.get'), '{}', { timeout: 1000 })).data),
    );
  const leafAccounts = async () =>
    ((await (await fetch(`http://127.0.0.1:${ports.http}/leafz`)).json()) as { leafs: { account: string }[] }).leafs
      .map((l) => l.account)
      .sort();
  after(async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    for (const s of [...clusters, hub]) await s?.stop();
  });

  it('nats-server -t accepts both rendered configurations, laid out as the pods mount them', async () => {
    assert.match(await natsTest(hubConf, {}), /configuration file .* is valid/);
    const east = await cluster('east', hubSecrets.get('mirrord-fleet-leaf-east'));
    assert.match(await natsTest(east.conf, east.env), /configuration file .* is valid/);
    assert.match(east.env.LEAF_URL!, new RegExp(`^nats-leaf://east:[0-9a-f]{48}@127\\.0\\.0\\.1:${ports.leaf}$`));
  });

  it("a cluster's gateway and ledger reach the hub's responder as mirrord-license.from.<cluster>.…, over the leafnode", async () => {
    const east = await cluster('east', hubSecrets.get('mirrord-fleet-leaf-east'));
    clusters.push(await runNats(east.conf, east.env));
    const gateway = await dial(east.port, east.secrets, 'mirrord-nats', 'gateway', 'mirrord-nats-0.mirrord-nats');
    const ledger = await dial(east.port, east.secrets, 'mirrord-nats', 'ledger', 'mirrord-nats-0.mirrord-nats');
    assert.equal(await seatsFrom(gateway), licenseFromSubject('east', 'seats.get'));
    const join = await ledger.request(licenseSubject('join'), '{}', { timeout: 2000 });
    assert.equal(new TextDecoder().decode(join.data), licenseFromSubject('east', 'join'));
    // at the hub it is cluster east's leafnode, in east's account
    assert.deepEqual(await leafAccounts(), ['CLUSTER_east']);
  });

  it('a wrong password, a cluster the hub does not list, or a remote that does not trust the hub’s CA: no leafnode', async () => {
    const west = hubSecrets.get('mirrord-fleet-leaf-west')!;
    const other = await createNatsTls(['127.0.0.1']);
    const tries: [string, string, Record<string, string>, RegExp][] = [
      ['wrong password', 'west', { ...west, url: west.url!.replace(west.password!, 'not-the-password-0123') }, AUTH],
      // west's own password, as a cluster the hub was not told of
      ['unknown cluster', 'north', { ...west, url: west.url!.replace('//west:', '//north:') }, AUTH],
      ['another CA', 'west', { ...west, 'ca.crt': other['ca.crt'] }, /certificate signed by unknown authority/],
    ];
    for (const [what, name, leaf, why] of tries) {
      const c = await cluster(name, leaf);
      const s = await runNats(c.conf, c.env);
      clusters.push(s);
      const gateway = await dial(c.port, c.secrets, 'mirrord-nats', 'gateway', 'mirrord-nats-0.mirrord-nats');
      await eventually(`${what}: the cluster's NATS says why it cannot join`, () => why.test(s.log()) || undefined);
      await assert.rejects(gateway.request(licenseSubject('seats.get'), '{}', { timeout: 500 }), /no responders|timeout/i);
      await s.stop();
    }
    assert.deepEqual(await leafAccounts(), ['CLUSTER_east'], 'only east is joined');
  });

  it("the hub's reloader: reloads what nats-server can; a cluster added restarts it (leafnodes do not reload), then that cluster joins", async () => {
    const sts = find(hubDocs, 'StatefulSet', 'mirrord-license-nats');
    const reloader = containerOf(sts, 'reloader');
    const script = reloader.command!.at(-1)!;
    const root = hubRoot;
    // the pod's paths, monitor and the one nats-server of its process namespace (this test's hub, by pid)
    const local = [
      ['/etc/nats/', `${root}/etc/nats/`],
      ['127.0.0.1:8222', `127.0.0.1:${ports.http}`],
      ['pkill -HUP -x nats-server', `kill -HUP ${hub.proc.pid}`],
      ['pkill -TERM -x nats-server', `kill -TERM ${hub.proc.pid}`],
      ['sleep 10', 'sleep 0.2'],
      ['sleep 3', 'sleep 1'],
    ].reduce((s, [from, to]) => {
      assert.ok(s.includes(from!), `the reloader has ${from}`);
      return s.replaceAll(from!, to!);
    }, script);
    const proc = spawn('sh', ['-c', local], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let again: Secrets;
    try {
      const auth = join(root, 'etc/nats/auth/auth.conf');
      // a change nats-server can reload (here nothing but a comment; a rotated license-server seed is alike): reloaded in place.
      // Made again while not reloaded: one made before the reloader took its first checksum goes unseen.
      await eventually(
        'the reloader reloads nats-server',
        () => {
          if (/reloaded nats-server/.test(out)) return true;
          writeFileSync(auth, `${readFileSync(auth, 'utf8')}# touched\n`);
          return undefined;
        },
        10_000,
        2000,
      );
      assert.equal(hub.proc.exitCode, null, 'still running');
      // the Job run again with a third cluster rewrites auth.conf (the kubelet refreshes the mount)
      const settings = find(hubDocs, 'ConfigMap', 'mirrord-license-settings').data!;
      settings.fleetClusters = 'east,west,north';
      again = await jobSecrets(hubDocs, hubSecrets);
      writeFileSync(
        auth,
        again.get('mirrord-license-nats-auth')!['auth.conf']!.replaceAll('/etc/nats/', `${root}/etc/nats/`).replace(
          '0.0.0.0:7422',
          `127.0.0.1:${ports.leaf}`,
        ),
      );
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([hub.exited, new Promise((r) => (timer = setTimeout(r, 15_000, 'still running')))]);
      clearTimeout(timer);
      assert.notEqual(code, 'still running', out);
      assert.match(out, /cannot reload this change: restarting it/);
      assert.match(hub.log(), /config reload not supported for LeafNode/);
    } finally {
      proc.kill();
    }
    // the kubelet starts it again, with the new configuration: north joins with its own Secret
    hub = await runNats(hubConf, hubEnv);
    await respond();
    const north = await cluster('north', again.get('mirrord-fleet-leaf-north'));
    clusters.push(await runNats(north.conf, north.env));
    const gateway = await dial(north.port, north.secrets, 'mirrord-nats', 'gateway', 'mirrord-nats-0.mirrord-nats');
    assert.equal(await seatsFrom(gateway), licenseFromSubject('north', 'seats.get'));
    await eventually('east is back too', async () => (await leafAccounts()).length === 2 || undefined);
    assert.deepEqual(await leafAccounts(), ['CLUSTER_east', 'CLUSTER_north']);
  });
});
