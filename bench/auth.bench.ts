import { ledgerCommands } from '#shared/contracts/index.js';
import { encode } from '#shared/nats/index.js';
import { startNatsServer, type NatsServer } from '../test/support/nats-server.js';
import { percentile, spawnTs, stop, type Row } from './support/util.js';

/**
 * What authentication and permissions cost on the bus (issue 25): the gateway's request to the
 * ledger's `start` subject, answered by a bare responder, on a server with nkeys and the derived
 * permissions (gateway → ledger, allow_responses) against the same server without auth, in
 * the same run. Rounds alternate between the two so the machine's noise falls on both.
 */
export async function benchAuth(log: (s: string) => void, rounds = 6, perRound = 2000): Promise<Row[]> {
  log('authenticated NATS vs no auth…');
  const subject = ledgerCommands.start.subject;
  const body = encode({ session_id: 'ABCDEF0123456789', target: 'deployment/app', namespace: 'default' });
  const rigs: Array<{ server: NatsServer; stopAll(): Promise<void>; rtt: number[]; run(): Promise<void> }> = [];
  for (const auth of [true, false]) {
    const server = await startNatsServer({ auth });
    const echo = await spawnTs(
      'bench/support/echo-responder.ts',
      { ...server.env, BENCH_IDENTITY: 'ledger', BENCH_SUBJECT: subject },
      'ready',
    );
    const nc = await server.connect(auth ? 'gateway' : undefined);
    const rtt: number[] = [];
    rigs.push({
      server,
      rtt,
      async run() {
        for (let i = 0; i < perRound; i++) {
          const t0 = performance.now();
          await nc.request(subject, body, { timeout: 5000 });
          rtt.push(performance.now() - t0);
        }
      },
      async stopAll() {
        await nc.close();
        await stop(echo);
        await server[Symbol.asyncDispose]();
      },
    });
  }
  try {
    for (const r of rigs) await r.run(); // warm-up, not counted
    for (const r of rigs) r.rtt.length = 0;
    for (let i = 0; i < rounds; i++) for (const r of i % 2 ? [...rigs].reverse() : rigs) await r.run();
  } finally {
    for (const r of rigs) await r.stopAll();
  }
  const [authed, open] = rigs.map((r) => percentile(r.rtt, 50)) as [number, number];
  const ratio = authed / open;
  return [
    {
      name: 'request-reply p50, nkey auth + derived permissions vs no auth (gateway → ledger subject)',
      value: authed,
      unit: 'ms',
      baseline: open,
      ratio,
      target: '<= 1.05',
      pass: ratio <= 1.05,
    },
  ];
}
