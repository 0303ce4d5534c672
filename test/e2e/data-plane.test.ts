import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { sessionIdToDecimal } from '#shared/ids/index.js';
import { clientMessage, encode, type ClientMessage } from '#shared/protocol/index.js';
import { API, http, SessionClient, type System } from '../support/system.js';
import { agentOfSession, startClusterSystem, type ClusterSystem, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { arbitraryOf, deepClientSteal, deepDaemonRefusal } from '../support/protocol-gen.js';
import type { TestAgent } from '../agent/test-agent.js';
import { PLUGIN_BIN } from '../support/plugin.js';

const BIN = PLUGIN_BIN;

/** The data plane through the test cluster: client ↔ gateway relay ↔ the target's (test) agent. */
describe('data plane: sessions relayed to the agent in the mirrord protocol', () => {
  let cluster: TestCluster;
  let sys: System;
  let all: ClusterSystem;
  let metricsUrl: string;

  before(async () => {
    all = await startClusterSystem({ OPERATOR_METRICS_ENABLED: 'true', OPERATOR_METRICS_ADDR: '127.0.0.1:0' });
    ({ cluster, sys } = all);
    metricsUrl = String((await sys.gateway.waitFor((l) => l.msg === 'metrics served')).url);
  });
  after(async () => {
    await all?.stop();
  });

  const connect = async (opts: Parameters<typeof SessionClient.connect>[1] = {}) => {
    const r = await SessionClient.connect(sys, { token: 'jim-token', target: 'deployment.my-deployment', ...opts });
    assert.ok(r.client, JSON.stringify(r.body));
    return r.client;
  };
  const agentOf = (sid: string) => agentOfSession(cluster, sid);
  /** `kubectl mirrord session start --target T ARGS…` as jim; resolves once it prints the session id. */
  const startPlugin = async (target: string, ...args: string[]) => {
    const plugin = spawn(process.execPath, [BIN, 'session', 'start', '--target', target, ...args], {
      env: { ...process.env, MIRRORD_GATEWAY: sys.url, MIRRORD_TOKEN: 'jim-token' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    plugin.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    let out = '';
    const lines = createInterface({ input: plugin.stdout! });
    lines.on('line', (l) => (out += `${l}\n`));
    const sid = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      plugin.once('exit', () => reject(new Error(`plugin exited: ${err}`)));
    });
    return { plugin, sid, out: () => out, err: () => err };
  };

  it('kubectl mirrord session start --mirror prints each mirrored request as the agent sends it (chunked, protocol ≥ 1.19.4)', async () => {
    const { plugin, sid, out, err } = await startPlugin('pod/my-pod', '--mirror', '80');
    await eventually('the plugin mirrors port 80', async () => /mirroring port 80/.test(err()));
    const agent = await agentOf(sid);
    const answered = await agent.deliverHttp(80, {
      method: 'POST',
      path: '/orders?id=7',
      headers: { 'x-user': 'bob' },
      body: '{"qty":2}',
    });
    assert.equal(answered, undefined, 'mirrored, not stolen: the target app answers');
    await eventually('the plugin printed the request', async () =>
      out().includes('mirror :80 POST /orders?id=7 HTTP/1.1\n{"qty":2}\n'),
    );
    plugin.kill('SIGINT');
    await new Promise((r) => plugin.once('exit', r));
  });

  it("a filtered steal delivers the agent's HTTP request to the plugin's local port and the answer back; a second unfiltered steal is refused unforwarded; kill closes all", async () => {
    const local: Server = createServer((req, res) => {
      res.setHeader('x-served-by', 'laptop');
      res.end(`hello ${req.method} ${req.url} for ${String(req.headers['x-user'])}`);
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    const localPort = (local.address() as { port: number }).port;
    const { plugin, sid, out, err } = await startPlugin(
      'deployment/my-deployment',
      '--steal',
      `80:${localPort}`,
      '--header-filter',
      'x-user: alice',
    );
    await eventually('the plugin steals port 80', async () =>
      /stealing port 80 with filter header=x-user: alice/.test(err()),
    );
    const agent = await agentOf(sid);
    assert.deepEqual(agent.describe(), ['80 steal header=x-user: alice']);

    const answer = await agent.deliverHttp(80, { method: 'GET', path: '/visits?n=1', headers: { 'x-user': 'alice' } });
    assert.equal(answer?.status, 200);
    assert.equal(answer?.body, 'hello GET /visits?n=1 for alice');
    assert.ok(answer?.headers.some(([k, v]) => k === 'x-served-by' && v === 'laptop'));
    assert.match(out(), /steal :80 GET \/visits\?n=1 → 200/);

    // Another user's unfiltered steal of port 80: refused by the gateway, never forwarded.
    const before = agent.received.filter((m) => m.$ === 'TcpSteal' && m.v.$ === 'PortSubscribe').length;
    const bob = await connect({ token: 'admin-token' });
    assert.equal((await bob.subscribe('steal', 80)).error && bob.frames.at(-1)!.toString('hex'), '0203010750');
    assert.equal(agent.received.filter((m) => m.$ === 'TcpSteal' && m.v.$ === 'PortSubscribe').length, before);
    await bob.close();

    const metrics = await (await fetch(metricsUrl)).text();
    assert.match(
      metrics,
      new RegExp(
        `^mirrord_stolen_requests_count\\{port="80",namespace="default",target="deployment/my-deployment",user_id="[^"]*"\\} 1$`,
        'm',
      ),
    );

    // Killed: the plugin hears who, its agent connection closes, the lock is released.
    const clientsBefore = agent.clients.size;
    assert.equal((await http(sys, 'DELETE', `${API}/sessions/${sessionIdToDecimal(sid)}`, 'admin-token')).status, 200);
    const code = await new Promise<number | null>((r) => plugin.once('exit', r));
    assert.equal(code, 2, err());
    assert.match(err(), new RegExp(`mirrord session ${sid} was killed by admin`));
    await eventually('the agent connection closed', async () => agent.clients.size === clientsBefore - 1);
    const locks = await http(
      sys,
      'GET',
      `${API}/namespaces/default/targets/deployment.my-deployment/port-locks`,
      'admin-token',
    );
    assert.deepEqual(locks.body.items, []);
    local.close();
  });

  it('on_concurrent_steal: continue goes on without the port (its agent never hears it); override ends the holder, naming the overrider', async () => {
    const holder = await connect();
    assert.deepEqual(await holder.subscribe('steal', 8080), { ok: true });
    const steals = (a: TestAgent) => a.subscriptions.filter((s) => s.port === 8080 && s.mode === 'steal').length;
    const agent = await agentOf(holder.id);
    assert.equal(steals(agent), 1);
    const cont = await connect({ query: '&on_concurrent_steal=continue' });
    assert.equal(await agentOf(cont.id), agent, 'one agent for the target, shared');
    assert.deepEqual(await cont.subscribe('steal', 8080), { ok: true });
    await cont.socket.ping();
    assert.equal(steals(agent), 1, "granted without the lock: not forwarded (the agent has the holder's only)");
    const over = await connect({ query: '&on_concurrent_steal=override' });
    assert.deepEqual(await over.subscribe('steal', 8080), { ok: true });
    const closed = await holder.waitFor((m) => m.type === 'closed');
    assert.equal(
      closed.reason,
      `mirrord session ${holder.id} was overridden by session ${over.id} (on_concurrent_steal=override)`,
    );
    assert.equal(steals(await agentOf(over.id)), 1);
    await cont.close();
    await over.close();
  });

  it('two sockets of one session (exec + intproxy) share it: closing the first keeps the session, the last ends it', async () => {
    const first = await connect();
    const second = await connect({ headers: { 'x-session-id': sessionIdToDecimal(first.id) } });
    assert.equal(second.id, first.id);
    assert.deepEqual(await second.subscribe('steal', 9090), { ok: true });
    await first.close();
    await second.socket.ping();
    const s = await http(sys, 'GET', `${API}/namespaces/default/sessions/${first.id}`, 'admin-token');
    assert.equal((s.body.status as { ended: boolean }).ended, false);
    await second.close();
    const ended = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === first.id);
    assert.equal(ended.reason, 'ClientClosed');
  });

  it('an agent killed with -9: the client is told the agent was lost, the session ends Unused after the TTL, its ports released', async () => {
    const c = await connect();
    assert.deepEqual(await c.subscribe('mirror', 7070), { ok: true });
    const agent = await agentOf(c.id);
    agent.kill();
    const closed = await c.waitFor((m) => m.type === 'closed');
    assert.equal(closed.reason, 'connection with mirrord-agent was lost');
    assert.equal((await c.socket.closed).code, 1011);
    const ended = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === c.id, 30_000);
    assert.equal(ended.reason, 'Unused');
  });

  it('a 60 KB agent message nested 20,000 deep closes only its connection (1007, logged); a client frame as deep closes 1007; the gateway serves on', async () => {
    const bystander = await connect({ target: 'pod.my-pod' });
    const victim = await connect();
    (await agentOf(victim.id)).sendRaw(deepDaemonRefusal(20_000));
    assert.equal((await victim.socket.closed).code, 1007);
    await sys.gateway.waitFor((l) =>
      /malformed message from the agent .*nested more than 32 levels/.test(String(l.msg)),
    );
    const deep = await connect();
    deep.ws.send(deepClientSteal(20_000));
    assert.equal((await deep.socket.closed).code, 1007);
    await bystander.socket.ping();
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN);
    assert.equal(sys.gateway.proc.exitCode, null);
    await bystander.close();
  });

  it('garbage, truncated, oversized and unknown-tag bytes from either side close only that connection; 10,000 fuzzed frames crash nothing', async () => {
    // On another target: the victims' agent is shared by every session on their pod.
    const bystander = await connect({ target: 'pod.my-pod' });
    assert.deepEqual(await bystander.subscribe('mirror', 6060), { ok: true });
    // The agent side: an unknown DaemonMessage tag reaches one connection's relay.
    const victim = await connect();
    const agent = await agentOf(victim.id);
    agent.sendRaw(Uint8Array.of(99, 0, 0));
    assert.equal((await victim.socket.closed).code, 1007);
    await sys.gateway.waitFor((l) => /unknown DaemonMessage tag 99 from the agent/.test(String(l.msg)));
    // A message announcing 4 GiB (Close(String) with a u64 length): refused before the bytes arrive.
    const victim2 = await connect();
    (await agentOf(victim2.id)).sendRaw(Uint8Array.of(0, 253, 0, 0, 0, 0, 1, 0, 0, 0));
    assert.equal((await victim2.socket.closed).code, 1007);
    // A truncated client frame (steal All without its port) is malformed too.
    const victim3 = await connect();
    victim3.ws.send(Uint8Array.of(2, 0, 0));
    assert.equal((await victim3.socket.closed).code, 1007);

    // The client side: random valid messages with garbage mixed in, over resumed sockets of one session.
    // 1 in 100 garbage (up to 30 random bytes), the rest valid messages a client may send
    // mid-session: fast-check with a fixed seed, the same frames on every run.
    const frames = fc.sample(
      fc.oneof(
        {
          weight: 1,
          arbitrary: fc.uint8Array({ minLength: 1, maxLength: 30 }).map((frame) => ({ garbage: true, frame })),
        },
        {
          weight: 99,
          arbitrary: arbitraryOf(clientMessage)
            .filter((m) => (m as ClientMessage).$ !== 'Close' && (m as ClientMessage).$ !== 'SwitchProtocolVersion')
            .map((m) => ({ garbage: false, frame: encode(clientMessage, m as ClientMessage) })),
        },
      ),
      { seed: 2026, numRuns: 10_000 },
    );
    let sent = 0;
    let closes = 0;
    let c = await connect();
    const id = c.id;
    // Alive (a Ping answered) or closed: what a frame did to its socket.
    const outcome = (sock: SessionClient) =>
      Promise.race([
        sock.socket.closed.then(() => 'closed' as const),
        sock.socket.ping().then(
          () => 'alive' as const,
          () => 'closed' as const,
        ),
      ]);
    for (const { garbage, frame } of frames) {
      c.ws.send(frame);
      sent++;
      if (garbage || sent % 500 === 0) {
        if ((await outcome(c)) === 'closed') {
          closes++;
          c = await connect({ headers: { 'x-session-id': sessionIdToDecimal(id) } });
        }
      }
    }
    await c.close().catch(() => undefined);
    assert.ok(closes > 10, `garbage closed sockets (${closes})`);
    // The gateway is up, the bystander's socket and session untouched.
    await bystander.socket.ping();
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN);
    assert.equal(sys.gateway.proc.exitCode, null);
    await bystander.close();
  });
});
