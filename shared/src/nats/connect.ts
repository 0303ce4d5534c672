import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { invalid, unavailable } from '../errors/index.js';
import { redactUrl } from '../log/redact.js';
import { seedFileName } from './credentials.js';
import { inboxPrefix } from './subjects.js';

export type { NatsConnection } from '@nats-io/transport-node';

export interface ConnectOptions {
  url: string;
  name: string;
  log?: Logger;
  /** How long the first connection may take before start-up gives up. */
  timeoutMs?: number;
  /** NATS_REPLICAS: replicas of every stream and bucket this connection creates (1, 3 or 5). */
  replicas?: number;
  /**
   * Who this connection is on the bus (a service, permissions.ts): its replies arrive under
   * `_INBOX_<identity>` and its seed is `<identity>.nk` in `credsDir`. Defaults to `name`.
   */
  identity?: string;
  /** NATS_NKEY_FILE: this identity's nkey seed (wins over credsDir). */
  nkeyFile?: string;
  /** NATS_CREDS_DIR: a directory of `<identity>.nk` seeds (one machine: npm start, tests). */
  credsDir?: string;
  /** NATS_CA_FILE: the CA that signed the NATS servers' certificates (TLS on). */
  caFile?: string;
}

/** The config fields every service passes through to connectNats. */
export interface NatsEnv {
  NATS_URL: string;
  NATS_REPLICAS: number;
  NATS_NKEY_FILE: string;
  NATS_CREDS_DIR: string;
  NATS_CA_FILE: string;
}
export const natsOptions = (cfg: NatsEnv): Omit<ConnectOptions, 'name'> => ({
  url: cfg.NATS_URL,
  replicas: cfg.NATS_REPLICAS,
  nkeyFile: cfg.NATS_NKEY_FILE || undefined,
  credsDir: cfg.NATS_CREDS_DIR || undefined,
  caFile: cfg.NATS_CA_FILE || undefined,
});

/** The seed this identity signs its connection with, or undefined to connect without one. */
function seedOf(opts: ConnectOptions, identity: string): Uint8Array | undefined {
  let file = opts.nkeyFile;
  if (!file && opts.credsDir) {
    file = join(opts.credsDir, seedFileName(identity));
    if (!existsSync(file))
      throw invalid('NATS_CREDS_DIR', `${file} does not exist: ${identity} has no NATS credentials there`);
  }
  if (!file) return undefined;
  try {
    return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
  } catch (e) {
    throw invalid(opts.nkeyFile ? 'NATS_NKEY_FILE' : 'NATS_CREDS_DIR', `cannot read ${file}: ${(e as Error).message}`);
  }
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
  const identity = opts.identity ?? opts.name;
  const seed = seedOf(opts, identity);
  try {
    nc = await connect({
      servers: opts.url.split(',').map((s) => s.trim()),
      name: opts.name,
      inboxPrefix: inboxPrefix(identity),
      ...(seed ? { authenticator: nkeyAuthenticator(seed) } : {}),
      ...(opts.caFile ? { tls: { caFile: opts.caFile } } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: opts.timeoutMs ?? 5000,
      waitOnFirstConnect: false,
    });
  } catch (e) {
    throw unavailable(
      `cannot reach NATS at ${opts.url.split(',').map(redactUrl).join(',')} (NATS_URL): ${e instanceof Error ? e.message : String(e)}`,
      e,
    );
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
