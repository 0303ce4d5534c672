import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect, type ConnectionOptions } from '@nats-io/transport-node';
import { publicKeyOfSeed } from '#shared/nats/credentials.js';
import { inboxPrefix } from '#shared/nats/subjects.js';
import { DEPLOY_SEED, kubeconfigFor, loadYaml } from '../kube/seed-loader.js';
import type { KubeObject } from '../kube/registry.js';
import type { UserInfo } from '../kube/rbac.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver.js';
import { kubectlApply } from '../support/cluster.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { tempDir } from '../support/tmp.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const deploy = (p: string) => join(ROOT, 'deploy', p);

/** The Job's container args, exactly as its manifest gives them. */
function jobArgs(file: string): string[] {
  const job = loadYaml(deploy(file)).find((o) => o.kind === 'Job')!;
  return (job.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]!.args;
}

/**
 * scripts/bootstrap-secrets.ts as the Jobs run it (the manifests' args), against the real
 * kube-apiserver (test/support/kube-apiserver.ts) with deploy/'s namespaces and RBAC applied as
 * shipped, as the Jobs' own ServiceAccounts (tokens the API server issues for them, as a pod's
 * projected token): the Roles are what lets it work. Then the Secrets it made, served by a real
 * nats-server over TLS.
 */
describe('the install bootstrap against the real kube-apiserver, and its Secrets in a real NATS', () => {
  let kube: KubeApiServer;
  let kubeconfig: string;
  before(async () => {
    kube = await startKubeApiServer({ users: [{ name: 'admin', groups: ['system:masters'] }] });
    const hub = loadYaml(deploy('license-server/namespace.yaml'), deploy('license-server/bootstrap.yaml'));
    await kubectlApply(kube.kubeconfig, 'admin', [...loadYaml(...DEPLOY_SEED), ...hub.filter((o) => o.kind !== 'Job')]);
    // The contexts: admin, and each Job's ServiceAccount with a token the API server made for it.
    const users = new Map<string, UserInfo>([[kube.users.admin!.token, { username: 'admin', groups: [] }]]);
    for (const sa of ['mirrord-bootstrap', 'mirrord-license-bootstrap']) {
      const t = await exec('kubectl', [
        ...['--kubeconfig', kube.kubeconfig, '--context', 'admin'],
        ...['-n', 'mirrord', 'create', 'token', sa, '--duration=1h'],
      ]);
      users.set(t.stdout.trim(), { username: `system:serviceaccount:mirrord:${sa}`, groups: [] });
    }
    kubeconfig = join(tempDir('bootstrap-kube'), 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigFor(kube.url, users, 'admin', { ca: kube.caPem }), { mode: 0o600 });
  });
  after(async () => {
    await kube?.[Symbol.asyncDispose]();
  });

  const run = async (args: string[], context: string, env: Record<string, string> = {}) => {
    try {
      const r = await exec(
        process.execPath,
        ['--import', 'tsx', 'scripts/bootstrap-secrets.ts', ...args, `--context=${context}`],
        { cwd: ROOT, env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAMESPACE: 'mirrord', ...env }, timeout: 60_000 },
      );
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? 1, out: x.stdout ?? '', err: x.stderr ?? '' };
    }
  };
  const kubectl = (context: string, ...args: string[]) =>
    exec('kubectl', ['--kubeconfig', kubeconfig, '--context', context, '-n', 'mirrord', ...args], {
      maxBuffer: 16 << 20,
    }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: '', err: e.stderr ?? '' }),
    );
  /** The namespace's Secrets named `<prefix>-…`, as the admin reads them from the API server. */
  const secrets = async (prefix: string, namespace = 'mirrord') => {
    const r = await kubectl('admin', '-n', namespace, 'get', 'secrets', '-o', 'json');
    assert.equal(r.code, 0, r.err);
    const items = (JSON.parse(r.out) as { items: KubeObject[] }).items;
    return new Map(items.filter((s) => s.metadata.name!.startsWith(`${prefix}-`)).map((s) => [s.metadata.name!, s]));
  };
  const text = (s: KubeObject | undefined, key: string) =>
    Buffer.from((s!.data as Record<string, string>)[key]!, 'base64').toString('utf8');
  const versions = (m: Map<string, KubeObject>) =>
    Object.fromEntries([...m].map(([n, s]) => [n, s.metadata.resourceVersion]));
  const CLUSTER = jobArgs('bootstrap.yaml');
  const SERVICES = ['gateway', 'ledger', 'policy', 'agent-manager', 'jira-reporter', 'queue-splitter', 'subscriber'];

  it('the first run makes every Secret, and logs their names but never their content', async () => {
    const r = await run(CLUSTER, 'mirrord-bootstrap');
    assert.equal(r.code, 0, r.err + r.out);
    const made = await secrets('mirrord-nats');
    assert.deepEqual(
      [...made.keys()].sort(),
      [...SERVICES.map((s) => `mirrord-nats-${s}`), 'mirrord-nats-tls', 'mirrord-nats-ca', 'mirrord-nats-auth'].sort(),
    );
    assert.equal(made.get('mirrord-nats-tls')!.type, 'kubernetes.io/tls');
    // and the operator's own (--operator-secrets): the CA with the agent-connection pair, the gateway's certificate
    const operator = [...(await secrets('mirrord-operator')), ...(await secrets('mirrord-gateway'))];
    assert.deepEqual(operator.map(([n]) => n).sort(), ['mirrord-gateway-tls', 'mirrord-operator-ca']);
    assert.ok(text(operator.find(([n]) => n === 'mirrord-operator-ca')![1], 'agent-connection.crt'));
    for (const s of [...made.values(), ...operator.map(([, x]) => x)]) {
      assert.equal(s.metadata.labels?.['app.kubernetes.io/managed-by'], 'mirrord-bootstrap');
      for (const v of Object.values(s.data as Record<string, string>)) {
        // the longest line of each value: a seed, a PEM's base64 body, a user's key
        const probe = Buffer.from(v, 'base64')
          .toString()
          .split('\n')
          .sort((a, b) => b.length - a.length)[0]!;
        assert.ok(probe.length > 40 && !r.out.includes(probe), `${s.metadata.name} logged`);
      }
    }
    assert.match(r.out, /"msg":"created Secret mirrord-nats-ledger"/);
  });

  it('a second run keeps everything as it is', async () => {
    const before = versions(await secrets('mirrord-nats'));
    const r = await run(CLUSTER, 'mirrord-bootstrap');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(versions(await secrets('mirrord-nats')), before);
    assert.match(r.out, /"created":0,"updated":0/);
  });

  it("rotation: delete one service's Secret and re-run; only it and auth.conf change", async () => {
    const old = await secrets('mirrord-nats');
    const oldKey = publicKeyOfSeed(text(old.get('mirrord-nats-ledger'), 'nkey'), 'ledger');
    const del = await kubectl('admin', 'delete', 'secret', 'mirrord-nats-ledger');
    assert.equal(del.code, 0, del.err);
    const r = await run(CLUSTER, 'mirrord-bootstrap');
    assert.equal(r.code, 0, r.err);
    const now = await secrets('mirrord-nats');
    const newKey = publicKeyOfSeed(text(now.get('mirrord-nats-ledger'), 'nkey'), 'ledger');
    assert.notEqual(newKey, oldKey);
    const conf = text(now.get('mirrord-nats-auth'), 'auth.conf');
    assert.ok(conf.includes(newKey) && !conf.includes(oldKey));
    const changed = Object.entries(versions(now))
      .filter(([n, v]) => versions(old)[n] !== v)
      .map(([n]) => n);
    assert.deepEqual(changed.sort(), ['mirrord-nats-auth', 'mirrord-nats-ledger']);
  });

  it("the Job's ServiceAccount reads no other Secret, and lists none", async () => {
    const db = ['mirrord-ledger-db', '--from-literal=url=postgres://x'];
    const made = await kubectl('admin', 'create', 'secret', 'generic', ...db);
    assert.equal(made.code, 0, made.err);
    const get = await kubectl('mirrord-bootstrap', 'get', 'secret', 'mirrord-ledger-db');
    assert.match(get.err, /secrets "mirrord-ledger-db" is forbidden/);
    const list = await kubectl('mirrord-bootstrap', 'get', 'secrets');
    assert.match(list.err, /cannot list resource "secrets"/);
    // nor the hub's: each Job has its own Role and names
    const hub = await kubectl('mirrord-license-bootstrap', 'get', 'secret', 'mirrord-nats-auth');
    assert.match(hub.err, /forbidden/);
  });

  it("the hub's Job makes the license server's Secrets under their own names (a hub may share the namespace)", async () => {
    const before = versions(await secrets('mirrord-nats'));
    const r = await run(jobArgs('license-server/bootstrap.yaml'), 'mirrord-license-bootstrap');
    assert.equal(r.code, 0, r.err + r.out);
    const hub = await secrets('mirrord-license-nats');
    assert.deepEqual(
      [...hub.keys()].sort(),
      ['auth', 'ca', 'license-server', 'tls'].map((s) => `mirrord-license-nats-${s}`),
    );
    // no fleetClusters yet: the license server alone, in the hub's account, and no leafnode listener
    const conf = text(hub.get('mirrord-license-nats-auth'), 'auth.conf');
    const accounts = JSON.parse(conf.replace(/^#.*\n/, '').replace(/^accounts: /, ''));
    assert.deepEqual(Object.keys(accounts), ['HUB']);
    assert.equal(accounts.HUB.users.length, 1, 'the license server is the hub bus’ only user');
    assert.doesNotMatch(conf, /^leafnodes/m);
    assert.deepEqual(versions(await secrets('mirrord-nats')), before);
  });

  it("with fleetClusters, the hub's Job keeps a leaf Secret per cluster in mirrord-fleet, as its own ServiceAccount", async () => {
    const settings = { FLEET_CLUSTERS: 'east,west', HUB_LEAF_ADDRESS: 'licenses.example.com:7422' };
    const r = await run(jobArgs('license-server/bootstrap.yaml'), 'mirrord-license-bootstrap', settings);
    assert.equal(r.code, 0, r.err + r.out);
    const leaves = await secrets('mirrord-fleet-leaf', 'mirrord-fleet');
    assert.deepEqual([...leaves.keys()].sort(), ['mirrord-fleet-leaf-east', 'mirrord-fleet-leaf-west']);
    const east = leaves.get('mirrord-fleet-leaf-east');
    assert.equal(text(east, 'url'), `nats-leaf://east:${text(east, 'password')}@licenses.example.com:7422`);
    const hubCa = (await secrets('mirrord-license-nats')).get('mirrord-license-nats-ca');
    assert.equal(text(east, 'ca.crt'), text(hubCa, 'ca.crt'));
    assert.ok(!r.out.includes(text(east, 'password')), 'the password is not logged');
    assert.match(r.out, /created Secret mirrord-fleet\/mirrord-fleet-leaf-east/);
    // the certificate now names the leaf address (re-made), and auth.conf has both clusters' users
    assert.match(r.out, /updated Secret mirrord-license-nats-tls: tls.crt does not name licenses\.example\.com/);
    const conf = text((await secrets('mirrord-license-nats')).get('mirrord-license-nats-auth'), 'auth.conf');
    assert.ok(conf.includes(text(east, 'password')) && /"account": "CLUSTER_west"/.test(conf));
    // again: nothing changes; deleting one cluster's Secret gives it a new password
    const before = versions(leaves);
    const again = await run(jobArgs('license-server/bootstrap.yaml'), 'mirrord-license-bootstrap', settings);
    assert.match(again.out, /"created":0,"updated":0/);
    assert.deepEqual(versions(await secrets('mirrord-fleet-leaf', 'mirrord-fleet')), before);
    const del = await kubectl('admin', '-n', 'mirrord-fleet', 'delete', 'secret', 'mirrord-fleet-leaf-west');
    assert.equal(del.code, 0, del.err);
    const rotated = await run(jobArgs('license-server/bootstrap.yaml'), 'mirrord-license-bootstrap', settings);
    assert.equal(rotated.code, 0, rotated.err);
    const now = await secrets('mirrord-fleet-leaf', 'mirrord-fleet');
    assert.ok(!conf.includes(text(now.get('mirrord-fleet-leaf-west'), 'password')));
    assert.equal(text(now.get('mirrord-fleet-leaf-east'), 'password'), text(east, 'password'));
    // its ServiceAccount reads Secrets in mirrord-fleet only by getting them by name (no list)
    const list = await kubectl('mirrord-license-bootstrap', '-n', 'mirrord-fleet', 'get', 'secrets');
    assert.match(list.err, /cannot list resource "secrets"/);
  });

  describe('a nats-server with the Secrets the Job made', () => {
    let nats: NatsServer;
    let files: Record<string, string>;
    let made: Map<string, KubeObject>;
    const seed = (id: string) => text(made.get(`mirrord-nats-${id}`), 'nkey').trim();
    before(async () => {
      made = await secrets('mirrord-nats');
      const dir = tempDir('bootstrap-nats');
      files = {};
      for (const [key, secret] of [
        ['tls.crt', 'mirrord-nats-tls'],
        ['tls.key', 'mirrord-nats-tls'],
        ['ca.crt', 'mirrord-nats-ca'],
      ]) {
        files[key!] = join(dir, key!);
        writeFileSync(files[key!]!, text(made.get(secret!), key!));
      }
      nats = await startNatsServer({
        auth: false,
        extraConf: `${text(made.get('mirrord-nats-auth'), 'auth.conf')}\ntls { cert_file: "${files['tls.crt']}", key_file: "${files['tls.key']}", ca_file: "${files['ca.crt']}" }`,
      });
    });
    after(async () => {
      await nats?.[Symbol.asyncDispose]();
    });

    /** As a service connects: its seed, the CA it mounts, the NATS pod's name (the server listens on loopback here). */
    const dial = (o: { id?: string; servername?: string; ca?: boolean }) =>
      connect({
        servers: `tls://127.0.0.1:${nats.port}`,
        inboxPrefix: inboxPrefix(o.id ?? 'gateway'),
        timeout: 3000,
        reconnect: false,
        ...(o.id ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed(o.id))) } : {}),
        tls: {
          ...(o.ca === false ? {} : { caFile: files['ca.crt'] }),
          servername: o.servername ?? 'mirrord-nats-0.mirrord-nats',
        } as ConnectionOptions['tls'],
      });

    it('a service with its own seed and the CA connects over TLS, by the name NATS_URL uses', async () => {
      for (const id of ['gateway', 'ledger', 'subscriber']) {
        const nc = await dial({ id });
        await nc.flush();
        await nc.close();
      }
    });

    it('no seed, a client that does not trust the CA, or a server name not in the certificate: refused', async () => {
      await assert.rejects(dial({}), /Authorization Violation/i);
      await assert.rejects(dial({ id: 'gateway', ca: false }), /self[- ]signed|unable to (get|verify)/i);
      await assert.rejects(dial({ id: 'gateway', servername: 'mirrord-nats.evil' }), /altnames|does not match/i);
    });
  });
});
