import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { clientMessage, encode, type ClientMessage, type DaemonMessage } from '#shared/protocol/index.js';
import { SessionClient, type System } from '../support/system.js';
import {
  agentOfSession,
  runKubectl,
  startClusterSystem,
  type ClusterSystem,
  type TestCluster,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import type { ServiceProcess } from '../support/service-process.js';
import { runPlugin } from '../support/plugin.js';

const POLICY = 'net-example/internal-only';
const ECHO_NAME = 'echo.net-example.svc.cluster.local';

/** A TCP echo server on a loopback address: what an allowed connect reaches through the agent. */
async function echoServer(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port };
}

const ip = (address: string, port: number) => ({ $: 'Ip' as const, v: { ip: address, port } });
const connectV2 = (protocol: 'TCP' | 'UDP', uid: bigint, address: string, port: number): Uint8Array =>
  encode(clientMessage, {
    $: protocol === 'TCP' ? 'TcpOutgoing' : 'UdpOutgoing',
    v: { $: 'ConnectV2', v: { uid, remote_address: ip(address, port) } },
  });
const legacyConnect = (address: string, port: number): Uint8Array =>
  encode(clientMessage, { $: 'TcpOutgoing', v: { $: 'Connect', v: { remote_address: ip(address, port) } } });

type OutgoingAnswer = Extract<DaemonMessage, { $: 'TcpOutgoing' | 'UdpOutgoing' }>['v'];
type ConnectResult = Extract<OutgoingAnswer, { $: 'ConnectV2' }>['v']['connect'];

/** `ok` or the error variant, with what a refusal carries. */
function outcome(c: ConnectResult): { ok: true } | { ok: false; error: string; detail: unknown } {
  return c.$ === 'Ok' ? { ok: true } : { ok: false, error: c.v.$, detail: c.v.v };
}

/**
 * network.outgoing on the wire: each connect through the gateway is checked against the
 * applicable policies' allow and block rules, hostnames by what the session resolved through
 * the agent; a refusal is answered in the client's protocol version, never reaches the agent,
 * and is recorded (Outgoing Blocked, the audit trail, a metric per policy).
 */
describe('governance: outgoing connects under network.outgoing', () => {
  let all: ClusterSystem;
  let cluster: TestCluster;
  let sys: System;
  let policy: ServiceProcess;
  let echo: { server: Server; port: number };
  let echoOutside: { server: Server; port: number };
  const clients: SessionClient[] = [];
  before(async () => {
    all = await startClusterSystem(
      { OPERATOR_METRICS_ENABLED: 'true', OPERATOR_METRICS_ADDR: '127.0.0.1:0' },
      async (c) => {
        const applied = await runKubectl(c, 'admin', 'apply', '-f', 'test/fixtures/governance/');
        assert.equal(applied.code, 0, applied.err);
      },
    );
    ({ cluster, sys, policy } = all);
    echo = await echoServer('127.0.0.1');
    // Outside the allow list's CIDR: reachable only by the name the policy allows.
    echoOutside = await echoServer('127.0.1.5');
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    echo?.server.close();
    echoOutside?.server.close();
    await all?.stop();
  });

  const plugin = async (args: string[]) => {
    const r = await runPlugin(sys, args);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  async function session(raw = false): Promise<SessionClient> {
    const r = await SessionClient.connect(sys, {
      token: 'admin-token',
      target: 'deployment.app',
      namespace: 'net-example',
      raw,
    });
    assert.ok(r.client, JSON.stringify(r.body));
    clients.push(r.client);
    return r.client;
  }

  /** Sends frames at once; the outgoing answers (and warnings) in the order they arrive. */
  async function send(c: SessionClient, n: number, ...frames: Uint8Array[]): Promise<DaemonMessage[]> {
    const got: DaemonMessage[] = [];
    c.socket.onMessage((m) => {
      if (m.$ === 'TcpOutgoing' || m.$ === 'UdpOutgoing' || m.$ === 'LogMessage' || m.$ === 'GetAddrInfoResponse')
        got.push(m);
    });
    for (const f of frames) c.ws.send(f);
    await eventually(`${n} answers`, async () => got.length >= n);
    return got;
  }
  const v2 = (m: DaemonMessage | undefined) => {
    assert.ok((m?.$ === 'TcpOutgoing' || m?.$ === 'UdpOutgoing') && m.v.$ === 'ConnectV2', m?.$);
    return { uid: m.v.v.uid, ...outcome(m.v.v.connect) };
  };
  const connectsTo = (a: { received: ClientMessage[] }, port: number) =>
    a.received.filter(
      (m) =>
        (m.$ === 'TcpOutgoing' || m.$ === 'UdpOutgoing') &&
        (m.v.$ === 'Connect' || m.v.$ === 'ConnectV2') &&
        m.v.v.remote_address.$ === 'Ip' &&
        m.v.v.remote_address.v.port === port,
    ).length;

  it('allowed CIDR passes and carries bytes; blocked CIDR+port, outside the allow list and blocked UDP are refused naming the policy', async () => {
    const c = await session();
    const agent = await agentOfSession(cluster, c.id);

    const [ok] = await send(c, 1, connectV2('TCP', 1n, '127.0.0.1', echo.port));
    assert.deepEqual(v2(ok), { uid: 1n, ok: true });

    const refusals = (
      await send(
        c,
        3,
        ...[
          connectV2('TCP', 2n, '127.0.0.1', 5432),
          connectV2('TCP', 3n, '127.0.1.5', echoOutside.port),
          connectV2('UDP', 4n, '127.0.0.2', 53),
        ],
      )
    ).map(v2);
    assert.deepEqual(
      refusals.map((r) => [r.uid, r.ok, !r.ok && r.error]),
      [
        [2n, false, 'ForbiddenWithReason'],
        [3n, false, 'ForbiddenWithReason'],
        [4n, false, 'ForbiddenWithReason'],
      ],
    );
    const [blockedDb, notAllowed, udp] = refusals.map((r) => (!r.ok ? r.detail : undefined)) as Array<{
      blocked_action: { $: string; v: unknown };
      policy_name: string;
      reason: string;
    }>;
    assert.deepEqual(blockedDb!.blocked_action, { $: 'OutgoingTcp', v: ip('127.0.0.1', 5432) });
    assert.equal(blockedDb!.policy_name, POLICY);
    assert.equal(blockedDb!.reason, 'its network.outgoing.block rule 127.0.0.0/8, TCP/5432');
    assert.match(notAllowed!.reason, /^not in the network.outgoing.allow list \(127.0.0.0\/24 except 127.0.0.2\/32; /);
    assert.deepEqual(udp!.blocked_action, { $: 'OutgoingUdp', v: ip('127.0.0.2', 53) });
    assert.equal(connectsTo(agent, 5432) + connectsTo(agent, 53) + connectsTo(agent, echoOutside.port), 0);

    // The name the allow list accepts, resolved through the agent: the same address now passes.
    agent.hosts.set(ECHO_NAME, ['127.0.1.5']);
    const [resolved] = await send(c, 1, encode(clientMessage, { $: 'GetAddrInfoRequest', v: { node: ECHO_NAME } }));
    assert.equal(resolved?.$, 'GetAddrInfoResponse');
    const [viaName] = await send(c, 1, connectV2('TCP', 5n, '127.0.1.5', echoOutside.port));
    assert.deepEqual(v2(viaName), { uid: 5n, ok: true });
    assert.equal(connectsTo(agent, echoOutside.port), 1);
  });

  it("the cluster's DNS: a Service name resolved through the agent lets its pods' address through the hostname rule", async () => {
    const c = await session();
    const [answer] = await send(c, 1, encode(clientMessage, { $: 'GetAddrInfoRequest', v: { node: 'app' } }));
    assert.ok(answer?.$ === 'GetAddrInfoResponse' && answer.v.$ === 'Ok', JSON.stringify(answer?.$));
    const [record] = answer.v.v;
    assert.equal(record?.name, 'app.net-example.svc.cluster.local.');
    // The pod's address is outside the allow list's CIDR: only the resolved name lets it through
    // (to the agent, whose connect then fails: nothing listens there).
    const [through] = await send(c, 1, connectV2('TCP', 6n, record!.ip, 8080));
    const r = v2(through);
    assert.equal(r.ok ? 'Ok' : r.error, 'RemoteIO', 'answered by the agent, not refused by policy');
  });

  it('Outgoing Blocked: logged with the seed-style message, listed by audit, counted per policy on /metrics', async () => {
    const line = await sys.ledger.waitFor(
      (l) => l.msg === 'Outgoing Blocked' && l.port === 5432 && l.address === '127.0.0.1',
    );
    assert.equal(line.policy, POLICY);
    assert.equal(line.target, 'deployment/app');
    const audit = JSON.parse(await plugin(['audit', '-n', 'net-example', '--since', '1h', '-o', 'json'])) as {
      items: Array<{ type: string; data: Record<string, unknown> }>;
    };
    const blocked = audit.items.filter((e) => e.type === 'OutgoingBlocked');
    assert.deepEqual(
      blocked.map((e) => `${String(e.data.protocol)} ${String(e.data.address)}:${String(e.data.port)}`).sort(),
      ['TCP 127.0.0.1:5432', 'TCP 127.0.1.5:' + String(echoOutside.port), 'UDP 127.0.0.2:53'],
    );
    const metricsUrl = String(sys.gateway.lines.find((l) => l.msg === 'gateway ready')?.metrics);
    await eventually('the metric counts the refusals', async () => {
      const text = await (await fetch(metricsUrl)).text();
      return (
        text.includes(`mirrord_teams_outgoing_blocked_total{policy="${POLICY}",protocol="TCP"} 2`) &&
        text.includes(`mirrord_teams_outgoing_blocked_total{policy="${POLICY}",protocol="UDP"} 1`)
      );
    });
  });

  it('a client before protocol 1.25 gets a warning and a permission error, in order behind the agent answer it waits for', async () => {
    const c = await session(true);
    await c.socket.handshake('1.20.0');
    const got = await send(c, 3, legacyConnect('127.0.0.1', echo.port), legacyConnect('127.0.0.1', 5432));
    const kinds = got.map((m) =>
      m.$ === 'LogMessage'
        ? `log: ${m.v.message}`
        : m.$ === 'TcpOutgoing' && m.v.$ === 'Connect'
          ? m.v.v.$ === 'Ok'
            ? 'Connect Ok'
            : `Connect Err ${m.v.v.v.$}`
          : m.$,
    );
    assert.equal(kinds[0], 'Connect Ok');
    assert.match(
      kinds[1]!,
      /^log: Outgoing TCP connection to 127\.0\.0\.1:5432 is forbidden by the mirrord policy "net-example\/internal-only"/,
    );
    assert.equal(kinds[2], 'Connect Err RemoteIO');
  });

  it('the policy deleted with kubectl stops applying to the next session; explain states the rules while it exists', async () => {
    const explained = JSON.parse(
      await plugin(['policy', 'explain', '--target', 'deploy/app', '-n', 'net-example', '-o', 'json']),
    ) as { enforce: { outgoing: { block: Array<{ policy: string }> } } };
    assert.deepEqual(
      explained.enforce.outgoing.block.map((r) => r.policy),
      [POLICY],
    );
    const del = await runKubectl(cluster, 'admin', 'delete', 'mirrordpolicy', 'internal-only', '-n', 'net-example');
    assert.equal(del.code, 0, del.err);
    await policy.waitFor((l) => l.msg === `MirrordPolicy ${POLICY} removed`);
    const c = await session();
    const agent = await agentOfSession(cluster, c.id);
    const [answer] = await send(c, 1, connectV2('TCP', 9n, '127.0.1.5', echoOutside.port));
    assert.deepEqual(v2(answer), { uid: 9n, ok: true });
    assert.ok(connectsTo(agent, echoOutside.port) >= 1);
  });
});
