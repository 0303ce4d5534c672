/**
 * A raw WebSocket ↔ TCP pipe (no framing, no decisions): the relay's baseline. With `tls` it
 * does the same inverted TLS handshake as the gateway, so both sides pay the same crypto.
 * Run as a script (`raw-pipe.ts <agent address> <cert file> <key file>`) it is a process of its
 * own, as the gateway is: the baseline then pays the same hops between processes. Prints its URL.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { connect as tcpConnect } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';

interface RawPipe {
  url: string;
  close(): Promise<void>;
}

export async function rawPipe(agentAddress: string, tls?: { certPem: string; keyPem: string }): Promise<RawPipe> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const context = tls ? createSecureContext({ cert: tls.certPem, key: tls.keyPem }) : undefined;
  wss.on('connection', (ws) => {
    const [host, port] = [agentAddress.slice(0, agentAddress.lastIndexOf(':')), Number(agentAddress.split(':').pop())];
    const sock = tcpConnect({ host, port, noDelay: true });
    const tcp = context ? new TLSSocket(sock, { isServer: true, secureContext: context }) : sock;
    tcp.on('data', (d) => ws.send(d));
    ws.on('message', (d: Buffer) => tcp.write(d));
    ws.on('close', () => tcp.destroy());
    tcp.on('close', () => ws.close());
  });
  await new Promise((r) => wss.once('listening', r));
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    close: () => new Promise((r) => wss.close(() => r())),
  };
}

/** The same pipe as a process of its own (TLS from the gateway's agent-connection files). */
export async function rawPipeProcess(agentAddress: string, certFile: string, keyFile: string): Promise<RawPipe> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'bench/support/raw-pipe.ts', agentAddress, certFile, keyFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout! }).once('line', resolve);
    void exited.then(() => reject(new Error('the raw pipe exited before it listened')));
  });
  return {
    url,
    close: async () => {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1]?.endsWith('raw-pipe.ts') && process.argv.length >= 5) {
  const [address, cert, key] = process.argv.slice(2) as [string, string, string];
  const pipe = await rawPipe(address, { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') });
  process.stdout.write(`${pipe.url}\n`);
  process.on('SIGTERM', () => process.exit(0));
}
