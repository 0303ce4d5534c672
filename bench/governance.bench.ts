import { clientMessage, decodeExact, daemonMessage, encode, type DaemonMessage } from '#shared/protocol/index.js';
import { API, http, SessionClient } from '../test/support/system.js';
import { startClusterSystem } from '../test/support/cluster.js';
import { eventually } from '../test/support/eventually.js';
import { latencyRows, type Row } from './support/util.js';
import { openFrame } from '../test/support/file-requests.js';

/**
 * What the relay's policy checks cost a file message: the round trip of an `Open` (a read,
 * which the rules let through to the agent) on a target with fs rules — every open matched
 * against them — vs the same on a target without policies, in one system.
 */
export async function benchGovernance(log: (s: string) => void): Promise<Row[]> {
  const all = await startClusterSystem({ USER_MAX_SESSIONS: '0', SESSION_MESSAGES_PER_SECOND: '100000' });
  const { cluster, sys } = all;
  try {
    // Twenty rules of each kind, none matching the opened path: the worst case for a forwarded open.
    const rules = (k: string) => Array.from({ length: 20 }, (_, i) => `^/bench/${k}/${i}/.+\\.(json|ya?ml)$`);
    cluster.standIn!.apply([
      {
        apiVersion: 'policies.mirrord.metalbear.co/v1alpha',
        kind: 'MirrordPolicy',
        metadata: { name: 'bench-fs', namespace: 'default' },
        spec: { targetPath: 'pod/my-pod', fs: { readOnly: rules('ro'), notFound: rules('nf'), local: rules('lo') } },
      },
    ]);
    await eventually('the policy service has bench-fs', async () => {
      const r = await http(sys, 'POST', `${API}/namespaces/default/targets/pod.my-pod/explain`, 'admin-token');
      return ((r.body.enforce as { fs?: { local: string[] } } | undefined)?.fs?.local.length ?? 0) > 0;
    });
    const roundTrips = async (target: string) => {
      const r = await SessionClient.connect(sys, { token: 'jim-token', target });
      if (!r.client) throw new Error(JSON.stringify(r.body));
      const c = r.client;
      let waiting: ((m: DaemonMessage) => void) | undefined;
      c.ws.on('message', (d: Buffer) => {
        if (d[0] === 6) waiting?.(decodeExact(daemonMessage, d));
      });
      const xs: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const t0 = performance.now();
        const answered = new Promise<DaemonMessage>((res) => (waiting = res));
        c.ws.send(openFrame('/app/config.json'));
        const m = await answered;
        xs.push(performance.now() - t0);
        if (m.$ === 'File' && m.v.$ === 'Open' && m.v.v.$ === 'Ok')
          c.ws.send(encode(clientMessage, { $: 'FileRequest', v: { $: 'Close', v: { fd: m.v.v.v.fd } } }));
      }
      await c.close();
      return xs.slice(200);
    };
    log('governance: file opens with and without fs rules…');
    // Alternating rounds after a warm-up, each side's samples pooled: the order does not favour one.
    await roundTrips('deployment.my-deployment');
    const plain: number[] = [];
    const governed: number[] = [];
    for (let round = 0; round < 2; round++) {
      plain.push(...(await roundTrips('deployment.my-deployment')));
      governed.push(...(await roundTrips('pod.my-pod')));
    }
    return latencyRows('governance: file Open round trip', '60 fs rules vs none', governed, plain);
  } finally {
    await all.stop();
  }
}
