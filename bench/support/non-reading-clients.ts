/**
 * `node --import tsx bench/support/non-reading-clients.ts <gateway url> <clients> <frames>`:
 * clients that stop reading and send refused requests as fast as the gateway takes them (the
 * issue 25 trial). Its own process, so the bench's timings are not billed for its sending.
 * Prints `{"ids": [...]}` once connected, then `{"done": true}`, and keeps its sockets open
 * (as such a client does) until it is stopped.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { clientMessage, encode } from '#shared/protocol/index.js';
import { SessionClient } from '../../test/support/system.js';

const [url, clients, frames] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
/** A steal of port 80, refused by SESSION_MESSAGES_PER_SECOND: ~100 bytes of answer for 10 sent. */
const STEAL = encode(clientMessage, { $: 'TcpSteal', v: { $: 'PortSubscribe', v: { $: 'All', v: 80 } } });

const open = await Promise.all(
  Array.from({ length: clients }, async () => {
    const r = await SessionClient.connect({ url }, { target: 'deployment.slow-client' });
    if (!r.client) throw new Error(JSON.stringify(r.body));
    return r.client;
  }),
);
console.log(JSON.stringify({ ids: open.map((c) => c.id) }));
await Promise.all(
  open.map(async (c) => {
    (c.ws as unknown as { _socket: Socket })._socket.pause();
    for (let sent = 0; sent < frames; sent += 2000) {
      for (let i = 0; i < 2000; i++) c.ws.send(STEAL);
      while (c.ws.bufferedAmount > 1 << 20) await sleep(2);
    }
    while (c.ws.bufferedAmount > 0) await sleep(2);
  }),
);
console.log(JSON.stringify({ done: true }));
// Paused sockets do not keep a process alive: this does, until the bench is done with them.
const alive = setInterval(() => undefined, 60_000);
process.once('SIGTERM', () => {
  clearInterval(alive);
  process.exit(0);
});
