import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { daemonMessage, decodeExact, encode, type ClientIntent } from '#shared/protocol/index.js';
import { OutgoingGate } from '../../services/gateway/src/app/outgoing-gate.js';

type Connect = Extract<ClientIntent, { kind: 'connect' }>;
const tcp = (ip: string, port: number, uid?: bigint): Connect => ({
  kind: 'connect',
  protocol: 'TCP',
  address: { $: 'Ip', v: { ip, port } },
  ...(uid !== undefined ? { uid } : {}),
});
const gate = () =>
  new OutgoingGate({
    allow: [
      { policy: 'ns/internal', ipBlock: { cidr: '10.0.0.0/8' } },
      { policy: 'ns/internal', hostname: '^api\\.ns\\.svc\\.cluster\\.local$' },
    ],
    block: [{ policy: 'ns/no-db', ports: [{ protocol: 'TCP', port: 5432 }] }],
  });
const lookupAnswer = (records: Array<{ name: string; ip: string }>) =>
  encode(daemonMessage, { $: 'GetAddrInfoResponse', v: { $: 'Ok', v: records } });
const describeAnswer = (f: Uint8Array): string => {
  const m = decodeExact(daemonMessage, f);
  if (m.$ === 'LogMessage') return 'log';
  if (m.$ !== 'TcpOutgoing' && m.$ !== 'UdpOutgoing') return m.$;
  const r = m.v.$ === 'ConnectV2' ? m.v.v.connect : m.v.$ === 'Connect' ? m.v.v : undefined;
  return `${m.v.$} ${r?.$ === 'Err' ? r.v.$ : 'Ok'}`;
};

describe('the relay checks outgoing connects against the policies, by address and resolved name', () => {
  it('given block and allow rules, when connects are checked, then block wins, the allow list bounds the rest, unix sockets pass', () => {
    const g = gate();
    assert.equal(g.check(tcp('10.1.2.3', 80)), undefined);
    assert.deepEqual(g.check(tcp('10.1.2.3', 5432)), {
      protocol: 'TCP',
      address: '10.1.2.3',
      port: 5432,
      hostnames: [],
      policy: 'ns/no-db',
      reason: 'its network.outgoing.block rule TCP/5432',
    });
    assert.equal(g.check(tcp('192.0.2.7', 443))?.policy, 'ns/internal');
    assert.equal(
      g.check({ kind: 'connect', protocol: 'TCP', address: { $: 'Unix', v: { $: 'Pathname', v: '/run/x.sock' } } }),
      undefined,
    );
  });

  it('given a name resolved through the agent, when its address is connected, then hostname rules see both the asked and the record name', () => {
    const g = gate();
    g.lookup('api');
    g.resolved(lookupAnswer([{ name: 'api.ns.svc.cluster.local.', ip: '192.0.2.7' }]));
    assert.equal(g.check(tcp('192.0.2.7', 443)), undefined);
    // Another lookup's address is not this name's.
    g.lookup('elsewhere.example');
    g.resolved(lookupAnswer([{ name: 'elsewhere.example.', ip: '192.0.2.8' }]));
    assert.deepEqual(g.check(tcp('192.0.2.8', 443))?.hostnames, ['elsewhere.example']);
  });

  it('given a ConnectV2 refused, then the answer carries its uid at once; for a client before 1.25, a warning comes first', () => {
    const g = gate();
    const c = tcp('10.1.2.3', 5432, 7n);
    assert.deepEqual(g.refuse('1.29.0', c, g.check(c)!).map(describeAnswer), ['ConnectV2 ForbiddenWithReason']);
    assert.deepEqual(g.refuse('1.22.0', c, g.check(c)!).map(describeAnswer), ['log', 'ConnectV2 RemoteIO']);
  });

  it("given a legacy Connect still owed by the agent, when the next is refused, then its answer follows the agent's", () => {
    const g = gate();
    const allowed = tcp('10.1.2.3', 80);
    const refused = tcp('10.1.2.3', 5432);
    g.forwarded(allowed);
    assert.deepEqual(g.refuse('1.20.0', refused, g.check(refused)!), [], 'held back');
    const agentOk = encode(daemonMessage, {
      $: 'TcpOutgoing',
      v: {
        $: 'Connect',
        v: {
          $: 'Ok',
          v: {
            connection_id: 1n,
            remote_address: { $: 'Ip', v: { ip: '10.1.2.3', port: 80 } },
            local_address: { $: 'Ip', v: { ip: '10.0.0.9', port: 40000 } },
          },
        },
      },
    });
    assert.deepEqual(g.agentConnected('TCP', agentOk).map(describeAnswer), ['Connect Ok', 'log', 'Connect RemoteIO']);
    // A UDP connect's order is its own.
    assert.deepEqual(g.agentConnected('UDP', agentOk).map(describeAnswer), ['Connect Ok']);
  });
});
