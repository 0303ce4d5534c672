import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { unavailable } from '../errors/index.js';

export type { NatsConnection } from '@nats-io/transport-node';

export interface ConnectOptions {
  url: string;
  name: string;
  log?: Logger;
  /** How long the first connection may take before start-up gives up. */
  timeoutMs?: number;
}

/** Connects with endless reconnect, and logs connection state changes. */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.url.split(',').map((s) => s.trim()),
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: opts.timeoutMs ?? 5000,
      waitOnFirstConnect: false,
    });
  } catch (e) {
    throw unavailable(`cannot reach NATS at ${opts.url} (NATS_URL): ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const log = opts.log;
  if (log) {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error')
          log.warn({ nats: s.type, server: 'server' in s ? s.server : undefined }, `NATS ${s.type}`);
      }
    })();
  }
  return nc;
}
