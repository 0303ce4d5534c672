// The bare baseline for session start: an HTTP server that does one NATS request per HTTP
// request (to the echo responder) and answers. Prints "listening <port>".
import { createServer } from 'node:http';
import { connectNats } from '#shared/nats/index.js';

// The tests' all-permissions identity when the bench's server has auth on (test/support/nats-server.ts).
const nc = await connectNats({
  url: process.env.NATS_URL!,
  name: 'bench',
  identity: 'test',
  credsDir: process.env.NATS_CREDS_DIR || undefined,
});
const body = new TextEncoder().encode('{}');
const server = createServer(async (_req, res) => {
  await nc.request('bench.echo', body, { timeout: 5000 });
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"type":"session"}');
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => void nc.close().then(() => process.exit(0))));
