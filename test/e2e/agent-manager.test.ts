import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { API, http, SessionClient, startSystem, type System } from '../support/system.js';
import type { ServiceProcess } from '../support/service-process.js';
import {
  agentOfSession,
  startAgentManager,
  startPolicy,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.js';
import { eventually as waitUntil } from '../support/eventually.js';
import { PLUGIN_BIN } from '../support/plugin.js';

const SESSION = 'mirrord.metalbear.co/session';
/** An agent Job is shared: it carries one such label per session using it. */
const USES = (sid: string) => `session.mirrord.metalbear.co/${sid}`;

/** agent-manager against the cluster: agents, copy targets, scale-down, cleanup and crash recovery. */
describe('agent-manager: agent jobs, copy_target with scale_down, reconciliation after kill -9', () => {
  let cluster: TestCluster;
  let sys: System;
  let am: ServiceProcess;
  let policy: ServiceProcess;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let batch: BatchV1Api;

  before(async () => {
    cluster = await startTestCluster();
    sys = await startSystem({
      GATEWAY_AUTH: 'kubernetes',
      KUBECONFIG: cluster.kubeconfig,
      GATEWAY_KUBE_CONTEXT: 'mirrord-operator',
    });
    [am, policy] = await Promise.all([startAgentManager(sys.env, cluster), startPolicy(sys.env, cluster)]);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    kc.setCurrentContext('admin');
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    batch = kc.makeApiClient(BatchV1Api);
  });
  after(async () => {
    await policy?.stop();
    await am?.stop();
    await sys?.stop();
    await cluster?.stop();
  });

  const connect = (target: string, config: Record<string, unknown>) =>
    SessionClient.connect(sys, {
      token: 'jim-token',
      target,
      headers: { 'x-mirrord-config': Buffer.from(JSON.stringify(config)).toString('base64') },
    });
  const podsOf = async (sid: string) =>
    (await core.listPodForAllNamespaces({ labelSelector: `${SESSION}=${sid}` })).items;
  const jobsOf = async (sid: string) => (await batch.listJobForAllNamespaces({ labelSelector: USES(sid) })).items;
  const agentJobs = async () =>
    (await batch.listJobForAllNamespaces({ labelSelector: 'mirrord.metalbear.co/agent' })).items;
  const replicas = async () =>
    (await apps.readNamespacedDeployment({ name: 'my-deployment', namespace: 'default' })).spec?.replicas;
  /** The shared eventually(), its failure showing agent-manager's last warnings. */
  const eventually = (what: string, check: () => Promise<boolean>, ms = 15_000) =>
    waitUntil(
      `${what}; agent-manager said: ${JSON.stringify(am.lines.filter((l) => ['warn', 'error', 'fatal'].includes(String(l.level))).slice(-3))}`,
      check,
      ms,
    );

  it('creates the agent Job on the target node with the configured capabilities and labels; removes it once unused for the idle TTL', async () => {
    const c = await connect('deployment.my-deployment', {
      agent: {
        disabled_capabilities: ['SYS_PTRACE'],
        labels: { team: 'payments' },
        image: 'registry.local/mirrord:3.150.0',
      },
    });
    assert.ok(c.client, JSON.stringify(c.body));
    const sid = await c.client.sessionId();
    const [job] = await jobsOf(sid);
    assert.ok(job, 'agent job exists');
    assert.equal(job.metadata?.namespace, 'mirrord');
    assert.equal(job.metadata?.labels?.team, 'payments');
    const spec = job.spec!.template.spec!;
    const container = spec.containers[0]!;
    assert.equal(container.image, 'registry.local/mirrord:3.150.0');
    assert.deepEqual(container.securityContext?.capabilities?.add, ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN']);
    assert.deepEqual(
      spec.tolerations?.map((t) => ({ ...t })),
      [{ operator: 'Exists' }],
    );
    const targetPods = (
      await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=my-deployment' })
    ).items.map((p) => p.spec?.nodeName);
    assert.ok(targetPods.includes(spec.nodeName), 'agent runs on the target node');
    const started = await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === sid);
    assert.equal(started.agent, 'job');
    await c.client.close();
    await eventually('the session leaves its agent', async () => (await jobsOf(sid)).length === 0);
    await eventually(
      'the unused agent job deleted after OPERATOR_AGENT_IDLE_TTL',
      async () => !(await agentJobs()).some((j) => j.metadata?.name === job.metadata?.name),
    );
  });

  it('one agent per target: sessions on one pod share its agent, the last to leave leaves it idle for the next, a dead one is replaced', async () => {
    const a = await connect('pod.my-pod', {});
    const b = await connect('pod.my-pod', {});
    assert.ok(a.client && b.client, JSON.stringify([a.body, b.body]));
    const [sidA, sidB] = [await a.client.sessionId(), await b.client.sessionId()];
    const [job] = await jobsOf(sidA);
    assert.ok(job, 'agent job exists');
    assert.deepEqual(
      (await jobsOf(sidB)).map((j) => j.metadata?.uid),
      [job.metadata?.uid],
      "the second session joined the first one's agent",
    );
    const onPod = (await agentJobs()).filter(
      (j) => j.metadata?.annotations?.['mirrord.metalbear.co/target-pod'] === 'default/my-pod',
    );
    assert.equal(onPod.length, 1, 'one agent for the pod');
    // Both sessions talk to it through their own connection.
    const agent = await agentOfSession(cluster, sidA);
    await eventually('both sessions connected to the one agent', async () => agent.clients.size === 2);

    await a.client.close();
    await eventually('A left, B stays', async () => (await jobsOf(sidA)).length === 0);
    assert.equal((await jobsOf(sidB)).length, 1);
    assert.equal(
      (await batch.readNamespacedJob({ name: job.metadata!.name!, namespace: 'mirrord' })).metadata?.annotations?.[
        'mirrord.metalbear.co/idle-since'
      ],
      undefined,
      'not idle while B uses it',
    );
    await b.client.close();
    await eventually(
      'idle once the last session left',
      async () =>
        !!(await batch.readNamespacedJob({ name: job.metadata!.name!, namespace: 'mirrord' })).metadata?.annotations?.[
          'mirrord.metalbear.co/idle-since'
        ],
    );
    // A session within the idle TTL joins the idle agent instead of starting another.
    const c = await connect('pod.my-pod', {});
    assert.ok(c.client, JSON.stringify(c.body));
    const sidC = await c.client.sessionId();
    assert.deepEqual(
      (await jobsOf(sidC)).map((j) => j.metadata?.uid),
      [job.metadata?.uid],
      'the idle agent reused',
    );

    // Its process dies: the next session gets a new agent in its place.
    (await agentOfSession(cluster, sidC)).kill();
    await eventually('the agent pod failed', async () =>
      (
        await core.listNamespacedPod({
          namespace: 'mirrord',
          labelSelector: `mirrord.metalbear.co/agent=${job.metadata!.labels!['mirrord.metalbear.co/agent']}`,
        })
      ).items.some((p) => p.status?.phase === 'Failed'),
    );
    const d = await connect('pod.my-pod', {});
    assert.ok(d.client, JSON.stringify(d.body));
    const sidD = await d.client.sessionId();
    const [replacement] = await jobsOf(sidD);
    assert.ok(replacement && replacement.metadata?.uid !== job.metadata?.uid, 'a new agent replaced the dead one');
    const fresh = await agentOfSession(cluster, sidD);
    await eventually('the new agent serves D', async () => fresh.clients.size === 1);
    await c.client.close();
    await d.client.close();
    await eventually(
      'unused agent removed after the TTL',
      async () =>
        !(await agentJobs()).some(
          (j) => j.metadata?.annotations?.['mirrord.metalbear.co/target-pod'] === 'default/my-pod',
        ),
    );
  });

  it('copy_target with scale_down: deployment at 0 and a copy pod while the session lives; replicas restored after', async () => {
    assert.equal(await replicas(), 2);
    const c = await connect('deployment.my-deployment', { feature: { copy_target: { scale_down: true } } });
    assert.ok(c.client, JSON.stringify(c.body));
    const sid = await c.client.sessionId();
    assert.equal(await replicas(), 0);
    const copyOf = async () =>
      (await podsOf(sid)).find((p) => p.metadata?.labels?.['mirrord.metalbear.co/role'] === 'copy');
    await eventually('the copy pod is listed', async () => (await copyOf()) !== undefined, 5000);
    const copy = await copyOf();
    assert.ok(copy, 'copy pod exists');
    assert.equal(copy.metadata?.labels?.app, 'my-deployment', 'labels kept');
    assert.equal(copy.spec?.containers[0]?.readinessProbe, undefined, 'probes dropped');
    // The agent enters the copy's container, not the original's.
    const [job] = await jobsOf(sid);
    const cmd = job!.spec!.template.spec!.containers[0]!.command!;
    assert.equal(
      cmd[cmd.indexOf('--container-id') + 1],
      copy.status?.containerStatuses?.[0]?.containerID?.split('://')[1],
    );
    const copied = await sys.ledger.waitFor((l) => l.msg === 'Target Copied' && l.session_id === sid);
    assert.equal(copied.scale_down, true);
    assert.equal(copied.original_replicas, 2);
    assert.equal((await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === sid)).agent, 'copy');

    // Visible as a copytargets object and in the operator status.
    const copies = await http(sys, 'GET', `${API}/namespaces/default/copytargets`, 'jim-token');
    assert.equal(copies.status, 200, JSON.stringify(copies.body));
    const ct = (
      copies.body.items as Array<{
        metadata: { name: string };
        spec: Record<string, unknown>;
        status: Record<string, unknown>;
      }>
    ).find((x) => (x.status.creator_session as { id: string }).id === sid);
    assert.ok(ct, 'copytargets lists the copy');
    assert.equal(ct.metadata.name, copy.metadata?.name);
    // The CLI's CopyTargetSpec: the untagged target config, the operator's idle TTL.
    assert.deepEqual(ct.spec, {
      target: { deployment: 'my-deployment', container: null },
      scale_down: true,
      idle_ttl: 3,
      split_queues: null,
      exclude_containers: [],
      exclude_init_containers: [],
    });
    assert.equal(ct.status.phase, 'Ready');
    const op = await http(sys, 'GET', `${API}/mirrordoperators/operator`, 'jim-token');
    assert.ok(
      // The CLI's CopyTargetEntry: {pod_name, copy_target: CopyTargetCrd with status.creator_session a Session}.
      (
        op.body.status as {
          copy_targets: Array<{ pod_name: string; copy_target: { status: { creator_session: { id: string } } } }>;
        }
      ).copy_targets.some((x) => x.copy_target.status.creator_session.id === sid && x.pod_name === copy.metadata?.name),
    );

    // One scaled-down session per deployment at a time.
    const second = await connect('deployment.my-deployment', { feature: { copy_target: { scale_down: true } } });
    assert.equal(second.status, 409);
    assert.match(String(second.body!.message), new RegExp(`already scaled down by session ${sid}`));

    await c.client.close();
    await eventually(
      'replicas restored and copy removed',
      async () => (await replicas()) === 2 && (await podsOf(sid)).length === 0,
    );
  });

  it('after kill -9 of agent-manager between scale-down and end, its restart restores replicas and deletes the pods', async () => {
    const c = await connect('deployment.my-deployment', { feature: { copy_target: { scale_down: true } } });
    assert.ok(c.client, JSON.stringify(c.body));
    const sid = await c.client.sessionId();
    assert.equal(await replicas(), 0);
    await am.kill9();
    await c.client.close();
    await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === sid);
    assert.equal(await replicas(), 0, 'nobody restored it while agent-manager was down');
    am = await startAgentManager(sys.env, cluster);
    await eventually(
      'restored after restart',
      async () => (await replicas()) === 2 && (await podsOf(sid)).length === 0 && (await jobsOf(sid)).length === 0,
    );
  });

  it('refuses bad agent config and scale_down on a non-deployment, naming the field', async () => {
    const bad = await connect('deployment.my-deployment', { agent: { ttl: -1 } });
    assert.equal(bad.status, 422);
    assert.match(String(bad.body!.message), /^x-mirrord-config: agent\.ttl: expected a number at least 0, got -1/);
    const pod = await connect('pod.my-pod', { feature: { copy_target: { scale_down: true } } });
    assert.equal(pod.status, 422);
    assert.match(
      String(pod.body!.message),
      /^feature\.copy_target\.scale_down: is compatible only with deployment targets/,
    );
  });
  it('kubectl mirrord session start --copy-target --scale-down does the same from the plugin', async () => {
    const { spawn, spawnSync } = await import('node:child_process');
    const { createInterface } = await import('node:readline');
    const { tempDir } = await import('../support/tmp.js');
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const bin = PLUGIN_BIN;
    const env = {
      ...process.env,
      MIRRORD_GATEWAY: sys.url,
      MIRRORD_TOKEN: 'jim-token',
      MIRRORD_CERT_DIR: tempDir('certs'),
    };
    const badFile = join(tempDir('cfg'), 'mirrord.json');
    writeFileSync(badFile, '{ "agent": ');
    const bad = spawnSync(
      process.execPath,
      [bin, 'session', 'start', '--target', 'deployment/my-deployment', '-f', badFile],
      { env, encoding: 'utf8' },
    );
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /mirrord\.json is not a valid mirrord config:\n\(json, line 1 column \d+\): not valid JSON/,
    );

    const proc = spawn(
      process.execPath,
      [bin, 'session', 'start', '--target', 'deployment/my-deployment', '--copy-target', '--scale-down'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const sid = await new Promise<string>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', resolve);
      proc.once('exit', () => reject(new Error(`exited: ${err}`)));
    });
    assert.equal(await replicas(), 0);
    assert.ok((await podsOf(sid)).some((p) => p.metadata?.labels?.['mirrord.metalbear.co/role'] === 'copy'));
    proc.kill('SIGINT');
    await new Promise((r) => proc.once('exit', r));
    await eventually('restored after Ctrl-C', async () => (await replicas()) === 2 && (await podsOf(sid)).length === 0);
  });
  it("agents run with the real agent's arguments and trust exactly the operator's agent-connection certificate (inverted TLS)", async () => {
    const { readFileSync } = await import('node:fs');
    const { createAgentConnectionCert } = await import('#shared/pki/index.js');
    const { AgentConnector } = await import('../../services/gateway/src/adapters/agent-connection/agent-connector.js');
    const { TestAgent } = await import('../agent/test-agent.js');
    const c = await connect('deployment.my-deployment', {});
    assert.ok(c.client, JSON.stringify(c.body));
    const sid = await c.client.sessionId();
    const [job] = await jobsOf(sid);
    const container = job!.spec!.template.spec!.containers[0]!;
    // mirrord-agent's CLI: global flags, then `targeted` with the target container's id and runtime.
    assert.deepEqual(container.command!.slice(0, 6), ['./mirrord-agent', '-l', '44128', '-t', '60', 'targeted']);
    assert.deepEqual(container.command!.slice(6, 7), ['--container-id']);
    assert.match(container.command![7]!, /^[0-9a-f]{64}$/);
    assert.deepEqual(container.command!.slice(8), ['--container-runtime', 'containerd']);
    const caDir = sys.env.OPERATOR_CA_DIR!;
    const certPem = readFileSync(`${caDir}/agent-connection.crt`, 'utf8');
    const keyPem = readFileSync(`${caDir}/agent-connection.key`, 'utf8');
    assert.equal(container.env!.find((e) => e.name === 'AGENT_OPERATOR_CERT_ENV')?.value, certPem);

    // A protocol-speaking agent trusting exactly that certificate: the operator side serves TLS with it.
    const agent = await TestAgent.start({ host: '127.0.0.1', port: 0, operatorCertPem: certPem });
    const sock = await new AgentConnector({ certPem, keyPem }).open(agent.address, true);
    sock.write(Uint8Array.of(7)); // ClientMessage::Ping
    assert.deepEqual([...(await new Promise<Buffer>((r) => sock.once('data', r)))], [7]); // DaemonMessage::Pong
    sock.destroy();
    // An operator with any other certificate is refused by the agent during the handshake.
    const stranger = await createAgentConnectionCert('operator.mirrord-teams');
    await assert.rejects(new AgentConnector(stranger, 3000).open(agent.address, true), /agent at .*: (TLS|no TLS)/);
    await agent.close();
    await c.client.close();
  });
  it('agent.ephemeral runs the agent as an ephemeral container of the target pod', async () => {
    const c = await connect('pod.my-pod', { agent: { ephemeral: true } });
    assert.ok(c.client, JSON.stringify(c.body));
    const sid = await c.client.sessionId();
    const pod = await core.readNamespacedPod({ name: 'my-pod', namespace: 'default' });
    const agents = pod.spec?.ephemeralContainers?.filter((e) => e.name.startsWith('mirrord-agent-')) ?? [];
    assert.equal(agents.length, 1, 'ephemeral agent container added');
    const agent = agents[0]!;
    assert.equal(agent.targetContainerName, 'main');
    assert.deepEqual(agent.securityContext?.capabilities?.add, ['NET_ADMIN', 'NET_RAW', 'SYS_PTRACE', 'SYS_ADMIN']);
    assert.equal(
      (await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === sid)).agent,
      'ephemeral',
    );
    assert.equal((await jobsOf(sid)).length, 0, 'no Job for an ephemeral agent');
    // A second ephemeral session on the pod joins the running agent (no second container).
    const c2 = await connect('pod.my-pod', { agent: { ephemeral: true } });
    assert.ok(c2.client, JSON.stringify(c2.body));
    const again = await core.readNamespacedPod({ name: 'my-pod', namespace: 'default' });
    assert.equal(again.spec?.ephemeralContainers?.filter((e) => e.name.startsWith('mirrord-agent-')).length, 1);
    // Ephemeral containers cannot be removed: the agent ends itself after OPERATOR_AGENT_IDLE_TTL.
    assert.equal(agent.env?.find((e) => e.name === 'MIRRORD_AGENT_IDLE_TTL')?.value, '3');
    await c.client.close();
    await c2.client.close();
    await eventually('the idle ephemeral agent exited', async () =>
      (
        (await core.readNamespacedPod({ name: 'my-pod', namespace: 'default' })).status?.ephemeralContainerStatuses ??
        []
      ).some((s) => s.name === agent.name && !!s.state?.terminated),
    );
  });
  it("a user's identical copy is kept idle after their session and reused by their next one, then swept after idle_ttl", async () => {
    const a = await connect('deployment.ip-visit-counter', { feature: { copy_target: true } });
    assert.ok(a.client, JSON.stringify(a.body));
    const sidA = await a.client.sessionId();
    const copyA = (await podsOf(sidA)).find((p) => p.metadata?.labels?.['mirrord.metalbear.co/role'] === 'copy')!;
    assert.ok(copyA, 'copy made');
    await a.client.close();
    await eventually(
      'copy idle',
      async () =>
        !!(await core.readNamespacedPod({ name: copyA.metadata!.name!, namespace: 'default' })).metadata?.annotations?.[
          'mirrord.metalbear.co/idle-since'
        ],
    );
    await eventually('agent gone', async () => (await jobsOf(sidA)).length === 0);
    const idle = await http(sys, 'GET', `${API}/namespaces/default/copytargets`, 'jim-token');
    const view = (
      idle.body.items as Array<{
        metadata: { name: string };
        spec: { idle_ttl: number };
        status: { idle_since?: string; creator_session: { id: string } };
      }>
    ).find((x) => x.metadata.name === copyA.metadata!.name);
    assert.equal(view?.spec.idle_ttl, 3);
    assert.ok(view?.status.idle_since);
    assert.equal(view?.status.creator_session.id, sidA);

    const b = await connect('deployment.ip-visit-counter', { feature: { copy_target: true } });
    assert.ok(b.client, JSON.stringify(b.body));
    const sidB = await b.client.sessionId();
    const copied = await sys.ledger.waitFor((l) => l.msg === 'Target Copied' && l.session_id === sidB);
    assert.equal(copied.copy_pod, copyA.metadata!.name, 'the idle copy is reused');
    assert.equal(
      (await podsOf(sidB)).filter((p) => p.metadata?.labels?.['mirrord.metalbear.co/role'] === 'copy').length,
      1,
    );
    await b.client.close();
    await eventually('idle copy swept after its TTL', async () => (await podsOf(sidB)).length === 0, 20_000);
  });
});
