import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkServerIdentity } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { publicKeyOfSeed } from '#shared/nats/credentials.js';
import { permissionsFor } from '#shared/nats/permissions.js';
import { AGENT_DEFAULTS } from '#shared/mirrord-config/index.js';
import { parseTarget } from '#shared/targets/index.js';
import { AGENT_PORT, agentJob, copyPod } from '../../services/agent-manager/src/domain/manifests.js';
import type { PrepareRequest } from '../../services/agent-manager/src/domain/request.js';
import { loadYaml } from '../kube/seed-loader.js';
import type { KubeObject } from '../kube/registry.js';
import {
  createNatsTls,
  createOperatorMaterial,
  OPERATOR_SECRETS,
  natsServerNames,
  newSeed,
  parseInvocation,
  planSecrets,
  RENEW_DAYS,
  secretNames,
  toV1Secret,
  type BootstrapOptions,
  type Generators,
} from '../../scripts/bootstrap-secrets.js';
import type { Plan } from '../../scripts/bootstrap/plan.js';

const deploy = (p: string) => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));
const OPTS: BootstrapOptions = {
  namespace: 'mirrord',
  prefix: 'mirrord-nats',
  natsService: 'mirrord-nats',
  replicas: 3,
  clusterDomain: 'cluster.local',
  identities: ['gateway', 'ledger', 'subscriber'],
};
/** Real generators that count their calls: a re-run must not make anything it keeps. */
function counting(): Generators & { calls: { seed: number; tls: number; operator: number } } {
  const calls = { seed: 0, tls: 0, operator: 0 };
  return {
    calls,
    seed: () => (calls.seed++, newSeed()),
    tls: (names) => (calls.tls++, createNatsTls(names)),
    operator: (o) => (calls.operator++, createOperatorMaterial(o)),
  };
}
/** The Secrets a plan leaves behind, as a re-run reads them. */
function after(plan: Plan, before = new Map<string, Record<string, string>>()) {
  const m = new Map(before);
  for (const s of [...plan.create, ...plan.update]) m.set(s.name, s.data);
  return m;
}
const names = (specs: { name: string }[]) => specs.map((s) => s.name);
const DAY = 86_400_000;

describe('scripts/bootstrap-secrets: what an install makes (no cluster)', () => {
  it('a fresh namespace gets a seed per identity, the TLS and CA Secrets, then auth.conf naming exactly those keys', async () => {
    const gen = counting();
    const plan = await planSecrets(OPTS, new Map(), gen, new Date());
    assert.deepEqual(names(plan.create), [
      'mirrord-nats-gateway',
      'mirrord-nats-ledger',
      'mirrord-nats-subscriber',
      'mirrord-nats-tls',
      'mirrord-nats-ca',
      'mirrord-nats-auth',
    ]);
    assert.deepEqual([plan.update, plan.keep], [[], []]);
    const data = Object.fromEntries(plan.create.map((s) => [s.name, s.data]));
    const conf = JSON.parse(data['mirrord-nats-auth']!['auth.conf']!.replace(/^authorization: /, '')) as {
      users: { nkey: string; permissions: unknown }[];
    };
    // each user is one identity's public key with that identity's derived permissions, nobody else
    assert.deepEqual(
      conf.users,
      OPTS.identities.map((id) => ({
        nkey: publicKeyOfSeed(data[`mirrord-nats-${id}`]!.nkey!, id),
        permissions: permissionsFor(id),
      })),
    );
    assert.equal(data['mirrord-nats-ca']!['ca.crt'], data['mirrord-nats-tls']!['ca.crt']);
    assert.deepEqual(Object.keys(data['mirrord-nats-tls']!).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.deepEqual(gen.calls, { seed: 3, tls: 1, operator: 0 });
  });

  it('the certificate is what Node (the services) and routes accept for every name they dial, and nothing else', async () => {
    const tls = await createNatsTls(natsServerNames(OPTS));
    const cert = new X509Certificate(tls['tls.crt']);
    assert.ok(cert.verify(new X509Certificate(tls['ca.crt']).publicKey));
    assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(tls['tls.key'])));
    const peer = { subjectaltname: cert.subjectAltName!, subject: {} } as never;
    // NATS_URL and the routes use the short pod names; gossip hands clients the same names
    for (const host of [
      'mirrord-nats-0.mirrord-nats',
      'mirrord-nats-2.mirrord-nats',
      'mirrord-nats',
      'mirrord-nats.mirrord.svc',
      'mirrord-nats-1.mirrord-nats.mirrord.svc.cluster.local',
    ])
      assert.equal(checkServerIdentity(host, peer), undefined, host);
    for (const host of ['mirrord-nats-3.mirrord-nats', 'evil.mirrord', 'mirrord-gateway.mirrord.svc', '127.0.0.1'])
      assert.ok(checkServerIdentity(host, peer), host);
    // routes present it as clients too (cluster { tls { verify: true } })
    assert.match(cert.toLegacyObject().ext_key_usage!.join(','), /1\.3\.6\.1\.5\.5\.7\.3\.1.*1\.3\.6\.1\.5\.5\.7\.3\.2/);
  });

  it('a re-run keeps every Secret and generates nothing', async () => {
    const first = await planSecrets(OPTS, new Map(), counting(), new Date());
    const gen = counting();
    const again = await planSecrets(OPTS, after(first), gen, new Date());
    assert.deepEqual([again.create, again.update], [[], []]);
    assert.equal(again.keep.length, 6);
    assert.deepEqual(gen.calls, { seed: 0, tls: 0, operator: 0 });
  });

  it('rotation: a deleted seed is made anew and auth.conf follows it; everything else is kept', async () => {
    const first = await planSecrets(OPTS, new Map(), counting(), new Date());
    const existing = after(first);
    const oldKey = publicKeyOfSeed(existing.get('mirrord-nats-ledger')!.nkey!, 'ledger');
    existing.delete('mirrord-nats-ledger');
    const plan = await planSecrets(OPTS, existing, counting(), new Date());
    assert.deepEqual(names(plan.create), ['mirrord-nats-ledger']);
    assert.deepEqual(names(plan.update), ['mirrord-nats-auth']);
    const conf = plan.update[0]!.data['auth.conf']!;
    assert.ok(!conf.includes(oldKey), 'the old key is no longer a user');
    assert.ok(conf.includes(publicKeyOfSeed(plan.create[0]!.data.nkey!, 'ledger')));
    assert.match(plan.reasons['mirrord-nats-auth']!, /seeds or the permissions/);
  });

  it('an upgrade whose permissions differ rewrites auth.conf (the seeds stay)', async () => {
    const existing = after(await planSecrets(OPTS, new Map(), counting(), new Date()));
    existing.set('mirrord-nats-auth', { 'auth.conf': 'authorization: {"users":[]}\n' });
    const plan = await planSecrets(OPTS, existing, counting(), new Date());
    assert.deepEqual([names(plan.create), names(plan.update)], [[], ['mirrord-nats-auth']]);
  });

  it('the TLS Secret is re-made (and the CA follows) when it nears its end or misses a name; never otherwise', async () => {
    const now = new Date();
    const existing = after(await planSecrets(OPTS, new Map(), counting(), now));
    const end = Date.parse(new X509Certificate(existing.get('mirrord-nats-tls')!['tls.crt']!).validTo);
    const nearEnd = await planSecrets(OPTS, existing, counting(), new Date(end - (RENEW_DAYS - 1) * DAY));
    assert.deepEqual(names(nearEnd.update), ['mirrord-nats-tls', 'mirrord-nats-ca']);
    assert.match(nearEnd.reasons['mirrord-nats-tls']!, /within 90 days/);
    assert.notEqual(nearEnd.update[1]!.data['ca.crt'], existing.get('mirrord-nats-ca')!['ca.crt']);
    const notYet = await planSecrets(OPTS, existing, counting(), new Date(end - (RENEW_DAYS + 1) * DAY));
    assert.deepEqual(notYet.update, []);
    // scaled to 5 NATS pods: the new pods' names are not in the certificate
    const scaled = await planSecrets({ ...OPTS, replicas: 5 }, existing, counting(), now);
    assert.match(scaled.reasons['mirrord-nats-tls']!, /does not name mirrord-nats-3\.mirrord-nats, mirrord-nats-4/);
    // a key that is not the certificate's
    const other = await createNatsTls(['x']);
    const swapped = new Map(existing).set('mirrord-nats-tls', {
      ...existing.get('mirrord-nats-tls')!,
      'tls.key': other['tls.key'],
    });
    const fixed = await planSecrets(OPTS, swapped, counting(), now);
    assert.match(fixed.reasons['mirrord-nats-tls']!, /not the key of tls.crt/);
  });

  it('--operator-secrets: the operator CA with the agent-connection pair, and the gateway certificate, made once', async () => {
    const op = { ...OPTS, operatorSecrets: true };
    const first = await planSecrets(op, new Map(), counting(), new Date());
    const made = Object.fromEntries(first.create.map((s) => [s.name, s]));
    assert.deepEqual(Object.keys(made['mirrord-operator-ca']!.data).sort(), [
      'agent-connection.crt',
      'agent-connection.key',
      'ca.crt',
      'ca.key',
    ]);
    // the name agents verify (shared/src/pki/ca-dir.ts), and a serving certificate for the gateway's Service
    const agent = new X509Certificate(made['mirrord-operator-ca']!.data['agent-connection.crt']!);
    assert.equal(agent.subjectAltName, 'DNS:operator.mirrord-teams');
    const gw = new X509Certificate(made['mirrord-gateway-tls']!.data['tls.crt']!);
    assert.equal(made['mirrord-gateway-tls']!.type, 'kubernetes.io/tls');
    assert.match(gw.subjectAltName!, /DNS:mirrord-gateway\.mirrord\.svc\b/);
    const gen = counting();
    const again = await planSecrets(op, after(first), gen, new Date());
    assert.deepEqual([again.create, again.update, gen.calls.operator], [[], [], 0]);
    // a hand-made CA Secret (ca.crt, ca.key only) keeps its CA and gains the agent-connection pair
    const handMade = new Map(after(first)).set('mirrord-operator-ca', { 'ca.crt': 'C', 'ca.key': 'K' });
    const fixed = await planSecrets(op, handMade, counting(), new Date());
    assert.deepEqual(names(fixed.update), ['mirrord-operator-ca']);
    assert.deepEqual([fixed.update[0]!.data['ca.crt'], fixed.update[0]!.data['ca.key']], ['C', 'K']);
    assert.ok(fixed.update[0]!.data['agent-connection.crt']);
    // one without the CA itself cannot be completed without replacing who signed the users' certificates
    const broken = new Map(after(first)).set('mirrord-operator-ca', { 'agent-connection.crt': 'x' });
    await assert.rejects(planSecrets(op, broken, counting(), new Date()), /has no ca\.crt or ca\.key/);
  });

  it('a malformed seed Secret is an error naming it and the remedy (it is never overwritten)', async () => {
    const existing = new Map([['mirrord-nats-gateway', { nkey: 'not a seed' }]]);
    await assert.rejects(
      planSecrets(OPTS, existing, counting(), new Date()),
      /Secret mirrord-nats-gateway \(delete it to have a new seed made\)/,
    );
  });

  it('Secrets go to the API base64-encoded, typed and labelled', () => {
    const spec = { name: 'mirrord-nats-tls', type: 'kubernetes.io/tls' as const, data: { 'tls.crt': 'x' } };
    const s = toV1Secret(spec, { namespace: 'ns', prefix: 'mirrord-nats' }, '7');
    assert.deepEqual(s.data, { 'tls.crt': 'eA==' });
    assert.equal(s.type, 'kubernetes.io/tls');
    assert.deepEqual([s.metadata!.namespace, s.metadata!.resourceVersion], ['ns', '7']);
    assert.deepEqual(s.metadata!.labels, {
      'app.kubernetes.io/part-of': 'mirrord-teams',
      'app.kubernetes.io/managed-by': 'mirrord-bootstrap',
      'app.kubernetes.io/instance': 'mirrord-nats',
    });
  });

  it('parses its command line; unknown identities and a missing namespace are clear errors', () => {
    const run = parseInvocation(['--prefix=p', '--replicas=1', '--identities=ledger'], { POD_NAMESPACE: 'x' });
    assert.deepEqual(run, {
      mode: 'cluster',
      context: '',
      options: {
        ...OPTS,
        namespace: 'x',
        prefix: 'p',
        natsService: 'p',
        replicas: 1,
        identities: ['ledger'],
        operatorSecrets: false,
      },
    });
    assert.deepEqual(parseInvocation(['--dir', '/d'], {}).mode, 'dir');
    assert.throws(() => parseInvocation(['--identities=root'], { POD_NAMESPACE: 'x' }), /unknown root; known: gateway/);
  });
});

type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};
/** A Kubernetes label selector (matchLabels and In / NotIn / Exists / DoesNotExist). */
function selects(sel: Selector, labels: Record<string, string>): boolean {
  const byLabel = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    byLabel &&
    (sel.matchExpressions ?? []).every(({ key, operator, values = [] }) =>
      operator === 'In'
        ? values.includes(labels[key]!)
        : operator === 'NotIn'
          ? !values.includes(labels[key]!)
          : operator === 'Exists'
            ? key in labels
            : !(key in labels),
    )
  );
}
type Ingress = { from?: { podSelector?: Selector }[]; ports?: { port: number }[] };
const policy = (docs: KubeObject[], name: string) =>
  docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === name)!.spec as {
    podSelector: Selector;
    ingress: Ingress[];
  };
const podLabels = (o: KubeObject) =>
  (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
const fromOnPort = (ingress: Ingress[], port: number) => ingress.find((r) => r.ports?.some((p) => p.port === port))!;

describe('deploy/: who reaches NATS, and what the bootstrap Job may touch', () => {
  const docs = loadYaml(
    ...['network-policies.yaml', 'ledger.yaml', 'gateway.yaml', 'workers.yaml', 'bootstrap.yaml'].map(deploy),
  );
  const nats = policy(docs, 'mirrord-nats');
  const clientRule = fromOnPort(nats.ingress, 4222).from![0]!.podSelector!;
  const deployment = (name: string) => docs.find((d) => d.kind === 'Deployment' && d.metadata.name === name)!;

  it("every service's pods may open NATS' client port; its route port only NATS pods", () => {
    for (const d of docs.filter((x) => x.kind === 'Deployment'))
      assert.ok(selects(clientRule, podLabels(d)), `${d.metadata.name} reaches NATS`);
    const routes = fromOnPort(nats.ingress, 6222).from![0]!.podSelector!;
    assert.ok(selects(routes, { app: 'mirrord-nats', 'app.kubernetes.io/part-of': 'mirrord-teams' }));
    assert.ok(!selects(routes, podLabels(deployment('mirrord-gateway'))));
  });

  it("no agent, copy or Job pod is let in to NATS, whatever labels a user's mirrord config asks for", () => {
    const ours = podLabels(deployment('mirrord-gateway'));
    const req: PrepareRequest = {
      session_id: 's1',
      namespace: 'mirrord',
      target: 'targetless',
      parsedTarget: parseTarget('targetless'),
      // agent.labels copying a service's labels, agent.namespace: mirrord (a targetless agent here)
      agent: { ...AGENT_DEFAULTS, labels: { ...ours } },
      client: {},
    };
    const job = agentJob({ req, namespace: 'mirrord', key: 'k', operatorCertPem: undefined, idleTtlSeconds: 60 });
    assert.ok(!selects(clientRule, podLabels(job as KubeObject)), 'an agent Job pod');
    // a copy of the gateway's own pod (a target in this namespace) keeps its labels, and gains a role
    const copy = copyPod(req, { metadata: { labels: ours }, spec: {} }, 'x', 'k') as KubeObject;
    assert.ok(!selects(clientRule, copy.metadata.labels!), 'a copy pod');
    const bootstrap = docs.find((d) => d.kind === 'Job')!;
    assert.ok(!selects(clientRule, podLabels(bootstrap)), 'the bootstrap Job');
  });

  it('agents take connections from the gateway only, on the port agent-manager gives them', () => {
    const agents = policy(docs, 'mirrord-agents');
    assert.deepEqual(agents.ingress[0]!.ports, [{ port: AGENT_PORT, protocol: 'TCP' }]);
    const from = agents.ingress[0]!.from![0]!.podSelector!;
    assert.ok(selects(from, podLabels(deployment('mirrord-gateway'))));
    assert.ok(!selects(from, podLabels(deployment('mirrord-ledger'))));
  });

  it("the sample policy for the ledger's database lets in the ledger pods of mirrord and no other service", () => {
    const db = policy(loadYaml(deploy('sample/ledger-db-networkpolicy.yaml')), 'mirrord-ledger-db');
    const from = fromOnPort(db.ingress, 5432).from![0]! as { podSelector: Selector; namespaceSelector: Selector };
    assert.deepEqual(from.namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'mirrord' });
    assert.ok(selects(from.podSelector, podLabels(deployment('mirrord-ledger'))));
    for (const other of ['mirrord-gateway', 'mirrord-policy', 'mirrord-agent-manager', 'mirrord-jira-reporter'])
      assert.ok(!selects(from.podSelector, podLabels(deployment(other))), other);
  });

  for (const [dir, rbac] of [
    ['', 'rbac/bootstrap.yaml'],
    ['license-server/', 'license-server/bootstrap.yaml'],
  ] as const)
    it(`${dir || 'deploy/'}: the Job's Role names exactly the Secrets its command line makes`, () => {
      const objs = loadYaml(deploy(`${dir}bootstrap.yaml`), deploy(rbac));
      const job = objs.find((o) => o.kind === 'Job')!;
      const c = (job.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]!;
      const run = parseInvocation(c.args, { POD_NAMESPACE: 'mirrord' });
      assert.equal(run.mode, 'cluster');
      const o = (run as { options: BootstrapOptions }).options;
      const n = secretNames(o.prefix, o.identities);
      const rules = (objs.find((x) => x.kind === 'Role') as unknown as { rules: { resourceNames?: string[]; verbs: string[] }[] })
        .rules;
      const rule = (verb: string) => rules.find((r) => r.verbs.includes(verb))!;
      const operator = o.operatorSecrets ? Object.values(OPERATOR_SECRETS) : [];
      assert.equal(o.operatorSecrets, dir === '', 'the cluster makes the operator Secrets, the hub does not');
      const get = [...Object.values(n.seeds), n.tls, n.ca, n.auth, ...operator];
      assert.deepEqual(rule('get').resourceNames!.sort(), get.sort());
      const update = [n.auth, n.tls, n.ca, ...(o.operatorSecrets ? [OPERATOR_SECRETS.ca] : [])];
      assert.deepEqual(rule('update').resourceNames!.sort(), update.sort());
      assert.equal(rule('create').verbs.length, 1);
      // only verbs it needs: no list/watch (which would read every Secret), no delete
      assert.deepEqual([...new Set(rules.flatMap((r) => r.verbs))].sort(), ['create', 'get', 'update']);
    });
});
