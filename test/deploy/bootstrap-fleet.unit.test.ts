import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { publicKeyOfSeed } from '#shared/nats/credentials.js';
import { permissionsFor } from '#shared/nats/permissions.js';
import { leafSecretName } from '../../scripts/bootstrap/fleet.js';
import {
  createNatsTls,
  createOperatorMaterial,
  newSeed,
  parseInvocation,
  planSecrets,
  toV1Secret,
  type BootstrapOptions,
  type Generators,
} from '../../scripts/bootstrap-secrets.js';
import type { Plan } from '../../scripts/bootstrap/plan.js';
import { loadYaml } from '../kube/seed-loader.js';

const deploy = (p: string) => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));
const HUB_JOB = loadYaml(deploy('license-server/bootstrap.yaml'));
const jobArgs = (HUB_JOB.find((o) => o.kind === 'Job')!.spec as { template: { spec: { containers: { args: string[] }[] } } })
  .template.spec.containers[0]!.args;
/** The hub's Job as its manifest runs it, with these settings (FLEET_CLUSTERS, HUB_LEAF_ADDRESS from the ConfigMap). */
function hubOptions(clusters: string, address = 'licenses.example.com:7422'): BootstrapOptions {
  const run = parseInvocation(jobArgs, { POD_NAMESPACE: 'mirrord', FLEET_CLUSTERS: clusters, HUB_LEAF_ADDRESS: address });
  assert.equal(run.mode, 'cluster');
  return (run as { options: BootstrapOptions }).options;
}
function counting(): Generators & { calls: { seed: number; tls: number; password: number } } {
  const calls = { seed: 0, tls: 0, password: 0 };
  return {
    calls,
    seed: () => (calls.seed++, newSeed()),
    tls: (names) => (calls.tls++, createNatsTls(names)),
    operator: createOperatorMaterial,
    password: () => `pw${++calls.password}-0123456789abcdef`,
  };
}
function after(plan: Plan, before = new Map<string, Record<string, string>>()) {
  const m = new Map(before);
  for (const s of [...plan.create, ...plan.update]) m.set(s.name, s.data);
  return m;
}
const names = (specs: { name: string }[]) => specs.map((s) => s.name);
type HubConf = {
  accounts: Record<string, { users?: { nkey: string; permissions: unknown }[]; imports?: unknown[] }>;
  leafnodes?: {
    listen: string;
    tls: Record<string, unknown>;
    authorization: { users: { user: string; password: string; account: string }[] };
  };
};
/** auth.conf as nats-server reads it (hubAuthConf writes JSON blocks after one comment line). */
function hubConf(conf: string): HubConf {
  const body = conf.replace(/^#.*\n/, '');
  const [, accounts, leafnodes] = /^accounts: ([^]*?)\n(?:leafnodes: ([^]*))?$/.exec(body)!;
  return { accounts: JSON.parse(accounts!), ...(leafnodes ? { leafnodes: JSON.parse(leafnodes) } : {}) };
}

describe("scripts/bootstrap-secrets, the hub's fleet mode (--fleet-namespace)", () => {
  it("reads the settings from the Job's env, and refuses names that cannot be a cluster", () => {
    assert.deepEqual(hubOptions(' east, west ').fleet, {
      clusters: ['east', 'west'],
      leafAddress: 'licenses.example.com:7422',
      namespace: 'mirrord-fleet',
      listen: '0.0.0.0:7422',
      tlsDir: '/etc/nats/tls',
    });
    assert.deepEqual(hubOptions('', '').fleet!.clusters, []);
    assert.throws(() => hubOptions('east,East'), /not a cluster name \(a DNS label\): East/);
    assert.throws(() => hubOptions('a.b,c_d,-x'), /a\.b, c_d, -x/);
    assert.throws(() => hubOptions('east,east'), /listed twice: east/);
    assert.throws(() => hubOptions('east,hub'), /'hub' is the hub's own JetStream domain/);
    assert.throws(() => hubOptions('east', ''), /fleetClusters is set but hubLeafAddress is not/);
    for (const bad of ['nats-leaf://hub:7422', 'u:p@hub:7422', 'hub:7422/x', 'hub:port'])
      assert.throws(() => hubOptions('east', bad), /hubLeafAddress: not host:port/, bad);
    // flags win over the env (a run by hand)
    const run = parseInvocation([...jobArgs, '--fleet-clusters=north', '--hub-leaf-address=10.0.0.9:7422'], {
      POD_NAMESPACE: 'mirrord',
      FLEET_CLUSTERS: 'east',
    });
    assert.deepEqual((run as { options: BootstrapOptions }).options.fleet!.clusters, ['north']);
    // the cluster's Job has no fleet
    const cluster = loadYaml(deploy('bootstrap.yaml')).find((o) => o.kind === 'Job')!;
    const args = (cluster.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec
      .containers[0]!.args;
    const c = parseInvocation(args, { POD_NAMESPACE: 'mirrord', FLEET_CLUSTERS: 'east' });
    assert.equal((c as { options: BootstrapOptions }).options.fleet, undefined);
  });

  it('a leaf Secret per cluster in the fleet namespace, and auth.conf binding each to its own account over TLS', async () => {
    const o = hubOptions('east,west');
    const gen = counting();
    const plan = await planSecrets(o, new Map(), gen, new Date());
    assert.deepEqual(names(plan.create), [
      'mirrord-license-nats-license-server',
      'mirrord-license-nats-tls',
      'mirrord-license-nats-ca',
      'mirrord-fleet-leaf-east',
      'mirrord-fleet-leaf-west',
      'mirrord-license-nats-auth',
    ]);
    const made = Object.fromEntries(plan.create.map((s) => [s.name, s]));
    const east = made[leafSecretName('east')]!;
    assert.equal(east.namespace, 'mirrord-fleet');
    assert.equal(toV1Secret(east, o).metadata!.namespace, 'mirrord-fleet');
    assert.equal(made['mirrord-license-nats-auth']!.namespace, undefined, "the hub's own Secrets stay in its namespace");
    assert.deepEqual(east.data, {
      password: 'pw1-0123456789abcdef',
      url: 'nats-leaf://east:pw1-0123456789abcdef@licenses.example.com:7422',
      'ca.crt': made['mirrord-license-nats-ca']!.data['ca.crt'],
    });
    const conf = hubConf(made['mirrord-license-nats-auth']!.data['auth.conf']!);
    // the license server alone in HUB, with its derived permissions; an account per cluster
    const seed = made['mirrord-license-nats-license-server']!.data.nkey!;
    assert.deepEqual(conf.accounts.HUB!.users, [
      { nkey: publicKeyOfSeed(seed, 'license-server'), permissions: permissionsFor('license-server') },
    ]);
    assert.deepEqual(Object.keys(conf.accounts).sort(), ['CLUSTER_east', 'CLUSTER_west', 'HUB']);
    assert.deepEqual(conf.leafnodes, {
      listen: '0.0.0.0:7422',
      authorization: {
        users: [
          { user: 'east', password: 'pw1-0123456789abcdef', account: 'CLUSTER_east' },
          { user: 'west', password: 'pw2-0123456789abcdef', account: 'CLUSTER_west' },
        ],
      },
      tls: { cert_file: '/etc/nats/tls/tls.crt', key_file: '/etc/nats/tls/tls.key', timeout: 2 },
    });
    // the certificate is what the clusters accept for the address they dial, and the license server for the Service
    const cert = new X509Certificate(made['mirrord-license-nats-tls']!.data['tls.crt']!);
    const peer = { subjectaltname: cert.subjectAltName!, subject: {} } as never;
    for (const host of ['licenses.example.com', 'mirrord-license-nats'])
      assert.equal(checkServerIdentity(host, peer), undefined, host);
    assert.ok(checkServerIdentity('evil.example.com', peer));
  });

  it('a re-run keeps every password and Secret; a deleted leaf Secret is a new password (rotation), the others stay', async () => {
    const o = hubOptions('east,west');
    const existing = after(await planSecrets(o, new Map(), counting(), new Date()));
    const gen = counting();
    const again = await planSecrets(o, existing, gen, new Date());
    assert.deepEqual([again.create, again.update, gen.calls], [[], [], { seed: 0, tls: 0, password: 0 }]);
    const old = existing.get('mirrord-fleet-leaf-west')!.password!;
    existing.delete('mirrord-fleet-leaf-west');
    const rotated = await planSecrets(o, existing, counting(), new Date());
    assert.deepEqual([names(rotated.create), names(rotated.update)], [
      ['mirrord-fleet-leaf-west'],
      ['mirrord-license-nats-auth'],
    ]);
    const conf = rotated.update[0]!.data['auth.conf']!;
    const users = hubConf(conf).leafnodes!.authorization.users;
    assert.equal(users.find((u) => u.user === 'west')!.password, rotated.create[0]!.data.password);
    assert.ok(!conf.includes(old), 'the old password is gone');
    assert.equal(users.find((u) => u.user === 'east')!.password, existing.get('mirrord-fleet-leaf-east')!.password);
  });

  it('adding a cluster adds its Secret and user; removing one drops its user (its Secret is left to delete by hand)', async () => {
    const existing = after(await planSecrets(hubOptions('east'), new Map(), counting(), new Date()));
    const added = await planSecrets(hubOptions('east,west'), existing, counting(), new Date());
    assert.deepEqual([names(added.create), names(added.update)], [['mirrord-fleet-leaf-west'], ['mirrord-license-nats-auth']]);
    const removed = await planSecrets(hubOptions('west'), after(added, existing), counting(), new Date());
    assert.deepEqual([names(removed.create), names(removed.update)], [[], ['mirrord-license-nats-auth']]);
    const conf = hubConf(removed.update[0]!.data['auth.conf']!);
    assert.deepEqual(Object.keys(conf.accounts).sort(), ['CLUSTER_west', 'HUB']);
    assert.deepEqual(
      conf.leafnodes!.authorization.users.map((u) => u.user),
      ['west'],
    );
  });

  it('a new leaf address re-makes the certificate for it; the leaf Secrets follow (url, ca.crt) and say to copy them again', async () => {
    const existing = after(await planSecrets(hubOptions('east'), new Map(), counting(), new Date()));
    const moved = await planSecrets(hubOptions('east', '203.0.113.7:7422'), existing, counting(), new Date());
    assert.deepEqual(names(moved.update), [
      'mirrord-license-nats-tls',
      'mirrord-license-nats-ca',
      'mirrord-fleet-leaf-east',
    ]);
    assert.match(moved.reasons['mirrord-license-nats-tls']!, /does not name 203\.0\.113\.7/);
    assert.match(moved.reasons['mirrord-fleet-leaf-east']!, /its url and ca\.crt changed: copy it to cluster east again/);
    const leaf = moved.update[2]!.data;
    assert.equal(leaf.password, existing.get('mirrord-fleet-leaf-east')!.password, 'the password stays');
    assert.equal(leaf.url, `nats-leaf://east:${leaf.password}@203.0.113.7:7422`);
    // an IP address is an IP SAN, which a re-run finds in place
    const cert = new X509Certificate(moved.update[0]!.data['tls.crt']!);
    assert.equal(cert.checkIP('203.0.113.7'), '203.0.113.7');
    const again = await planSecrets(hubOptions('east', '203.0.113.7:7422'), after(moved, existing), counting(), new Date());
    assert.deepEqual([again.create, again.update], [[], []]);
  });

  it('no cluster: no leafnodes block, so no leafnode listener (one without users would admit any leafnode)', async () => {
    const plan = await planSecrets(hubOptions('', ''), new Map(), counting(), new Date());
    const auth = plan.create.find((s) => s.name === 'mirrord-license-nats-auth')!.data['auth.conf']!;
    assert.doesNotMatch(auth, /^leafnodes/m);
    assert.deepEqual(Object.keys(hubConf(auth).accounts), ['HUB']);
    assert.ok(!plan.create.some((s) => s.namespace));
  });

  it('a leaf Secret without a usable password is an error naming it (never overwritten)', async () => {
    const existing = new Map([['mirrord-fleet-leaf-east', { url: 'x' }]]);
    await assert.rejects(
      planSecrets(hubOptions('east'), existing, counting(), new Date()),
      /Secret mirrord-fleet\/mirrord-fleet-leaf-east has no usable "password".*delete it/,
    );
  });

  it("the Job's RBAC: its own Secrets by name in mirrord; in the fleet namespace get, create and update, nothing more", () => {
    const o = hubOptions('east');
    const roles = HUB_JOB.filter((x) => x.kind === 'Role') as unknown as {
      metadata: { name: string; namespace: string };
      rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    }[];
    const fleet = roles.find((r) => r.metadata.namespace === o.fleet!.namespace)!;
    assert.deepEqual(fleet.rules, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update'] }]);
    const binding = HUB_JOB.find((x) => x.kind === 'RoleBinding' && x.metadata.namespace === o.fleet!.namespace) as unknown as {
      subjects: { kind: string; name: string; namespace: string }[];
      roleRef: { kind: string; name: string };
    };
    const sa = (HUB_JOB.find((x) => x.kind === 'Job')!.spec as { template: { spec: { serviceAccountName: string } } })
      .template.spec.serviceAccountName;
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa, namespace: 'mirrord' }]);
    assert.deepEqual(binding.roleRef.name, fleet.metadata.name);
    // the namespace is part of the hub's install
    const ns = loadYaml(deploy('license-server/namespace.yaml')).map((n) => n.metadata.name);
    assert.ok(ns.includes(o.fleet!.namespace));
  });
});
