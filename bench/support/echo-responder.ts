// The raw request-reply baseline: a bare NATS responder in its own process, replying with a
// small msgpack body, no work at all. Prints "ready" when subscribed.
import { connectNats, encode } from '#shared/nats/index.js';

// The tests' all-permissions identity when the bench's server has auth on (test/support/nats-server.ts),
// or the one BENCH_IDENTITY names (the auth row answers as the ledger, on the ledger's own subject).
const nc = await connectNats({
  url: process.env.NATS_URL!,
  name: 'bench',
  identity: process.env.BENCH_IDENTITY || 'test',
  credsDir: process.env.NATS_CREDS_DIR || undefined,
});
const reply = encode({
  ok: { events: [{ id: '01a209e0-586e-7000-8c37-76fcb9668d3f', type: 'SessionStarted', position: 1 }], warnings: [] },
});
nc.subscribe(process.env.BENCH_SUBJECT || 'bench.echo', { queue: 'echo', callback: (_e, m) => void m.respond(reply) });
await nc.flush();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void nc.close().then(() => process.exit(0)));
