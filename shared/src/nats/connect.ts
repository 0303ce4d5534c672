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
  /** NATS_REPLICAS: replicas of every stream and bucket this connection creates (1, 3 or 5). */
  replicas?: number;
}

/** `lost` when the client loses its server, `regained` when it is connected again. */
export type BusChange = 'lost' | 'regained';

interface BusState {
  down: boolean;
  replicas: number;
  listeners: Set<(c: BusChange) => void>;
}
const buses = new WeakMap<NatsConnection, BusState>();

/** True while a connection made by connectNats is between a disconnect and a reconnect. */
export function isBusDown(nc: NatsConnection): boolean {
  return nc.isClosed() || buses.get(nc)?.down === true;
}

/**
 * How many replicas the streams and buckets made over this connection get: a bus is a single
 * server or a cluster, and that is known where it is connected to (NATS_REPLICAS).
 */
export function streamReplicas(nc: NatsConnection): number {
  return buses.get(nc)?.replicas ?? 1;
}

/** Calls `fn` on every loss and regain of the bus; returns the unsubscribe function. */
export function onBusChange(nc: NatsConnection, fn: (c: BusChange) => void): () => void {
  const s = buses.get(nc);
  if (!s) throw new Error('onBusChange needs a connection made by connectNats');
  s.listeners.add(fn);
  return () => s.listeners.delete(fn);
}

/** Connects with endless reconnect, logs connection state changes and tracks whether the bus is up. */
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
  const state: BusState = { down: false, replicas: opts.replicas ?? 1, listeners: new Set() };
  buses.set(nc, state);
  const log = opts.log;
  const tell = (c: BusChange) => {
    for (const fn of state.listeners) {
      try {
        fn(c);
      } catch (e) {
        log?.error({ err: e }, 'a NATS connection listener failed');
      }
    }
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error')
        log?.warn({ nats: s.type, server: 'server' in s ? s.server : undefined }, `NATS ${s.type}`);
      if (s.type === 'disconnect' && !state.down) {
        state.down = true;
        tell('lost');
      } else if (s.type === 'reconnect' && state.down) {
        state.down = false;
        tell('regained');
      }
    }
  })();
  return nc;
}
