import {
  clientMessage,
  decodeExact,
  daemonMessage,
  encode,
  intentOf,
  tagOf,
  type DaemonMessage,
} from '#shared/protocol/index.js';
import { FileGate } from '../services/gateway/src/app/file-gate.js';
import { OutgoingGate } from '../services/gateway/src/app/outgoing-gate.js';
import { API, http, SessionClient } from '../test/support/system.js';
import { startClusterSystem } from '../test/support/cluster.js';
import { eventually } from '../test/support/eventually.js';
import { latencyRows, type Row } from './support/util.js';
import { openFrame } from '../test/support/file-requests.js';
import { createServer, type AddressInfo } from 'node:net';
import { size } from './support/profile.js';

/** The answers waited for, by their tags in the grammar. */
const FILE = tagOf(daemonMessage, 'File');
const TCP_OUTGOING = tagOf(daemonMessage, 'TcpOutgoing');
const CONNECTED_V2 = tagOf(daemonMessage, 'TcpOutgoing', 'ConnectV2');

/**
 * What the relay's policy checks cost a file and a connect message: the round trip of an
 * `Open` (a read, which the rules let through to the agent) and of a `ConnectV2` (to a local
 * echo server, which the allow list lets through) on a target with fs and outgoing rules —
 * every message matched against them — vs the same on a target without policies, in one system.
 */
export async function benchGovernance(log: (s: string) => void): Promise<Row[]> {
  const all = await startClusterSystem({ USER_MAX_SESSIONS: '0', SESSION_MESSAGES_PER_SECOND: '100000' });
  const { cluster, sys } = all;
  try {
    // Twenty rules of each kind, none matching the opened path: the worst case for a forwarded open.
    const rules = (k: string) => Array.from({ length: 20 }, (_, i) => `^/bench/${k}/${i}/.+\\.(json|ya?ml)$`);
    await cluster.apply([
      {
        apiVersion: 'policies.mirrord.metalbear.co/v1alpha',
        kind: 'MirrordPolicy',
        metadata: { name: 'bench-fs', namespace: 'default' },
        spec: {
          targetPath: 'pod/my-pod',
          fs: { readOnly: rules('ro'), notFound: rules('nf'), local: rules('lo') },
          // Thirty block rules and thirty allow rules, only the last allow matching: every connect checks all.
          network: {
            outgoing: {
              block: Array.from({ length: 30 }, (_, i) => ({
                ipBlock: { cidr: `10.${i}.0.0/16`, except: [`10.${i}.1.0/24`] },
                ports: [{ protocol: 'TCP' as const, port: 5432 }],
              })),
              allow: [
                ...Array.from({ length: 29 }, (_, i) => ({ hostname: `^svc-${i}\\.bench\\.svc\\.cluster\\.local$` })),
                { ipBlock: { cidr: '127.0.0.0/8' } },
              ],
            },
          },
        },
      },
    ]);
    await eventually('the policy service has bench-fs', async () => {
      const r = await http(sys, 'POST', `${API}/namespaces/default/targets/pod.my-pod/explain`, 'admin-token');
      return ((r.body.enforce as { fs?: { local: string[] } } | undefined)?.fs?.local.length ?? 0) > 0;
    });
    const echo = createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as AddressInfo).port;
    /** `n` round trips of one message kind on a fresh session; the follow-up closes what it opened. */
    const roundTrips = async (target: string, kind: 'open' | 'connect') => {
      const r = await SessionClient.connect(sys, { token: 'jim-token', target });
      if (!r.client) throw new Error(JSON.stringify(r.body));
      const c = r.client;
      const tag = kind === 'open' ? FILE : TCP_OUTGOING;
      let waiting: ((m: DaemonMessage) => void) | undefined;
      c.ws.on('message', (d: Buffer) => {
        // A connect's answer is DaemonTcpOutgoing::ConnectV2; its Read / Close are not waited for.
        if (d[0] === tag && (kind === 'open' || d[1] === CONNECTED_V2)) waiting?.(decodeExact(daemonMessage, d));
      });
      const xs: number[] = [];
      for (let i = 0; i < (kind === 'open' ? size(2000, 40) : size(1000, 20)); i++) {
        const t0 = performance.now();
        const answered = new Promise<DaemonMessage>((res) => (waiting = res));
        c.ws.send(
          kind === 'open'
            ? openFrame('/app/config.json')
            : encode(clientMessage, {
                $: 'TcpOutgoing',
                v: {
                  $: 'ConnectV2',
                  v: { uid: BigInt(i + 1), remote_address: { $: 'Ip', v: { ip: '127.0.0.1', port: echoPort } } },
                },
              }),
        );
        const m = await answered;
        xs.push(performance.now() - t0);
        if (m.$ === 'File' && m.v.$ === 'Open' && m.v.v.$ === 'Ok')
          c.ws.send(encode(clientMessage, { $: 'FileRequest', v: { $: 'Close', v: { fd: m.v.v.v.fd } } }));
        else if (m.$ === 'TcpOutgoing' && m.v.$ === 'ConnectV2' && m.v.v.connect.$ === 'Ok')
          c.ws.send(
            encode(clientMessage, {
              $: 'TcpOutgoing',
              v: { $: 'Close', v: { connection_id: m.v.v.connect.v.connection_id } },
            }),
          );
        else throw new Error(`unexpected answer ${m.$}`);
      }
      await c.close();
      return xs.slice(xs.length / 10);
    };
    const rows: Row[] = [];
    for (const kind of ['open', 'connect'] as const) {
      log(`governance: ${kind === 'open' ? 'file opens' : 'outgoing connects'} with and without rules…`);
      // Alternating rounds after a warm-up, each side's samples pooled: the order does not favour one.
      await roundTrips('deployment.my-deployment', kind);
      const plain: number[] = [];
      const governed: number[] = [];
      for (let round = 0; round < size(2, 1); round++) {
        plain.push(...(await roundTrips('deployment.my-deployment', kind)));
        governed.push(...(await roundTrips('pod.my-pod', kind)));
      }
      rows.push(
        ...(kind === 'open'
          ? latencyRows('governance: file Open round trip', '60 fs rules vs none', governed, plain)
          : latencyRows('governance: outgoing ConnectV2 round trip', '60 outgoing rules vs none', governed, plain)),
      );
    }
    echo.close();
    return [...rows, ...checkCost()];
  } finally {
    await all.stop();
  }
}

/**
 * The checks alone, in process, per message: `FileGate.verdict` and `OutgoingGate.check` with
 * the same 60 rules, against the decode every relayed client message gets anyway (the
 * baseline). Batches of 100 calls timed with the high-resolution clock, per-call µs.
 */
function checkCost(): Row[] {
  const rules = (k: string) => Array.from({ length: 20 }, (_, i) => `^/bench/${k}/${i}/.+\\.(json|ya?ml)$`);
  const files = new FileGate({ local: rules('lo'), not_found: rules('nf'), read_only: rules('ro') });
  const outgoing = new OutgoingGate({
    block: Array.from({ length: 30 }, (_, i) => ({
      policy: 'default/bench',
      ipBlock: { cidr: `10.${i}.0.0/16`, except: [`10.${i}.1.0/24`] },
      ports: [{ protocol: 'TCP' as const, port: 5432 }],
    })),
    allow: [
      ...Array.from({ length: 29 }, (_, i) => ({ policy: 'default/bench', hostname: `^svc-${i}\\.bench$` })),
      { policy: 'default/bench', ipBlock: { cidr: '127.0.0.0/8' } },
    ],
  });
  const open = openFrame('/app/config.json', true);
  const connect = encode(clientMessage, {
    $: 'TcpOutgoing',
    v: { $: 'ConnectV2', v: { uid: 1n, remote_address: { $: 'Ip', v: { ip: '127.0.0.1', port: 8080 } } } },
  });
  const perCall = (fn: () => void): number[] => {
    const xs: number[] = [];
    for (let b = 0; b < 600; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) fn();
      xs.push((performance.now() - t0) / 100);
    }
    return xs.slice(100);
  };
  const decodeIntent = (f: Uint8Array) => intentOf(decodeExact(clientMessage, f));
  const openIntent = decodeIntent(open);
  const connectIntent = decodeIntent(connect);
  if (openIntent.kind !== 'file' || connectIntent.kind !== 'connect') throw new Error('bench frames misread');
  return [
    ...latencyRows(
      'governance: fs check per Open (in process)',
      '60 rules vs the decode it follows',
      perCall(() => files.verdict(openIntent.request)),
      perCall(() => decodeIntent(open)),
    ),
    ...latencyRows(
      'governance: outgoing check per connect (in process)',
      '60 rules vs the decode it follows',
      perCall(() => outgoing.check(connectIntent)),
      perCall(() => decodeIntent(connect)),
    ),
  ];
}
