import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { isAppError } from '#shared/errors/index.js';
import { MessageFramer, daemonMessage } from '#shared/protocol/index.js';
import { RelaySession, type RelayDeps } from '../../app/relay-session.js';
import type { StartedSession } from '../../app/start-session.js';
import type { LiveConnection } from '../nats/connection-registry.js';

/** Bytes sent to the client and not yet written before the agent's side is paused (and resumed below the low mark). */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;
/** Client frames (or bytes) queued behind a pending decision before the client's socket is paused. */
const QUEUE_PAUSE = 256;
const QUEUE_PAUSE_BYTES = HIGH_WATER;
/**
 * Client frames decided before the relay yields to the event loop. Most are decided at once
 * (a refusal, a relay), so without a yield one socket flooding small messages is served for as
 * long as it keeps sending, and every other socket waits (a ping took 8 s behind five).
 */
const FAIR_SHARE = 64;
/** Room in a client's budget for what the gateway answers itself (versions, pongs, refusals). */
const ANSWERS_BYTES = 1 << 20;
/**
 * What one frame waiting to be written costs beyond its bytes (ws header, write request,
 * callback, the frame's own buffer): about 600 bytes measured (bench/slow-client.bench.ts).
 * Counted, so a flood of 100-byte refusals is held to the budget in memory, not in payload
 * bytes (which let it hold seven times as much).
 */
const FRAME_COST = 1024;

/**
 * The most a client socket may leave unread, whoever produced the bytes: one whole agent
 * message, the agent's pause mark, and room for the gateway's own answers. The agent pauses
 * at the mark, so only the gateway's answers (a client sending requests and never reading
 * the refusals) can pass it: then the socket closes 1008 rather than the gateway growing.
 */
export const clientBudget = (maxMessageBytes: number): number => maxMessageBytes + HIGH_WATER + ANSWERS_BYTES;

export interface SocketRelayDeps extends RelayDeps {
  log: Logger;
  registry: {
    add(c: LiveConnection): void;
    remove(c: LiveConnection): void;
    /** Live sockets of a session on this gateway. */
    count(sessionId: string): number;
  };
  /** Ends the session in the ledger (a deliberate close of its last socket). */
  endSession(s: StartedSession): Promise<unknown>;
  /** Largest mirrord-protocol message either side may send (PROTOCOL_MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  /** Relayed bytes, by direction. */
  bytes?(direction: 'client_to_agent' | 'agent_to_client', n: number): void;
}

/**
 * The WebSocket ↔ agent TCP plumbing of one client socket: binary frames only (one message
 * each), the agent's stream framed into whole messages, back-pressure both ways (the agent
 * socket pauses while the client's unsent bytes pile up; the client's socket pauses while
 * the agent's write buffer is full or decisions are pending). Decisions live in RelaySession.
 */
export function serveRelay(
  deps: SocketRelayDeps,
  socket: WebSocket,
  s: StartedSession,
  agent: Duplex | undefined,
  config: unknown,
): void {
  const id = s.req.session_id;
  const log = deps.log.child({ session_id: id });
  /** Bytes (and per-frame costs) handed to the client's socket and not yet written. */
  let held = 0;
  let agentPaused = false;
  const budget = clientBudget(deps.maxMessageBytes);
  const relay = new RelaySession(
    deps,
    s,
    {
      hasAgent: agent !== undefined,
      toClient(frame) {
        if (socket.readyState !== socket.OPEN) return;
        const cost = frame.length + FRAME_COST;
        held += cost;
        deps.bytes?.('agent_to_client', frame.length);
        socket.send(frame, { binary: true }, () => {
          held -= cost;
          if (agentPaused && held < LOW_WATER) {
            agentPaused = false;
            agent?.resume();
          }
        });
        if (!agentPaused && held > HIGH_WATER && agent) {
          agentPaused = true;
          agent.pause();
        }
        if (held > budget) relay.notReading(held, budget);
      },
      toAgent(frame) {
        if (!agent || agent.destroyed) return;
        deps.bytes?.('client_to_agent', frame.length);
        if (!agent.write(frame)) {
          socket.pause();
          agent.once('drain', () => socket.resume());
        }
      },
      closeClient(code, reason) {
        if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING)
          socket.close(code, Buffer.from(reason).subarray(0, 120).toString());
        if (agent) hangUp(agent);
      },
    },
    log,
    config,
  );
  const conn: LiveConnection = { sessionId: id, closeBySession: (reason, by) => relay.ended(reason, by) };
  deps.registry.add(conn);

  if (agent) {
    const framer = new MessageFramer(daemonMessage, deps.maxMessageBytes);
    agent.on('data', (chunk: Buffer) => {
      // After a failure the rest of the stream is not framed (the framer would only hold it).
      if (relay.state !== 'open') return;
      let frames: Uint8Array[];
      try {
        frames = framer.push(chunk);
      } catch (e) {
        return relay.protocolError('agent', e);
      }
      for (const f of frames) {
        let out: Uint8Array[];
        try {
          out = relay.fromAgent(f);
        } catch (e) {
          return relay.protocolError('agent', e);
        }
        for (const o of out) relay.io.toClient(o);
      }
    });
    agent.on('error', (err) => log.warn({ err }, 'agent connection error'));
    agent.once('close', () => {
      if (socket.readyState === socket.OPEN) {
        log.warn('the agent connection closed; telling the client');
        relay.agentLost();
      }
    });
  }

  // Frames are decided in arrival order; only subscriptions wait (policy, ledger), the rest is
  // synchronous: decided as they come, without a queue or a promise (the relay's added latency),
  // up to FAIR_SHARE a turn of the event loop, then queued and decided a share a turn.
  const queue: Uint8Array[] = [];
  let queuedBytes = 0;
  let busy = false;
  let burst = 0;
  const endBurst = () => (burst = 0);
  const decide = (f: Uint8Array): Promise<void> | undefined => {
    try {
      const pending = relay.fromClient(f);
      return pending ? pending.catch((err: unknown) => relay.protocolError('client', err)) : undefined;
    } catch (err) {
      relay.protocolError('client', err);
      return undefined;
    }
  };
  const pump = async (yieldFirst: boolean): Promise<void> => {
    busy = true;
    if (yieldFirst) await new Promise((r) => setImmediate(r));
    let decided = 0;
    while (queue.length > 0) {
      if (++decided % FAIR_SHARE === 0) await new Promise((r) => setImmediate(r));
      const f = queue.shift()!;
      queuedBytes -= f.length;
      const pending = decide(f);
      if (pending) await pending;
      if (queue.length < QUEUE_PAUSE / 4 && queuedBytes < QUEUE_PAUSE_BYTES / 4 && socket.isPaused) socket.resume();
    }
    busy = false;
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    // A socket that failed (bad bytes, not reading) reads nothing more while it closes.
    if (relay.state !== 'open') return;
    if (!isBinary) {
      log.warn('text frame from the client; the mirrord protocol is binary only');
      return relay.io.closeClient(1003, 'text frames are not part of the mirrord protocol');
    }
    if (!busy && burst < FAIR_SHARE) {
      if (burst++ === 0) setImmediate(endBurst);
      const pending = decide(data);
      if (pending) {
        busy = true;
        void pending.then(() => pump(false));
      }
      return;
    }
    queue.push(data);
    queuedBytes += data.length;
    if (queue.length > QUEUE_PAUSE || queuedBytes > QUEUE_PAUSE_BYTES) socket.pause();
    if (!busy) void pump(true);
  });

  socket.on('close', (code) => {
    deps.registry.remove(conn);
    relay.flushLogs();
    if (agent) hangUp(agent);
    const state = relay.state;
    if (state === 'ended') return;
    const deliberate = state === 'clientClosed' || (state === 'open' && code === 1000);
    if (deliberate && deps.registry.count(id) === 0) {
      // The last socket of the session closed on purpose: the session ends now.
      void deps.endSession(s).catch((e: unknown) => {
        if (!isAppError(e, 'Conflict') && !isAppError(e, 'NotFound'))
          log.warn({ err: e }, 'could not end the session; it will expire as Unused');
      });
      return;
    }
    // Dropped, failed, or one of several sockets: its ports go; the session waits for a reconnect.
    log.info({ code, state }, 'client socket closed; session kept for a reconnect within the unused TTL');
    void relay.releaseAll();
  });
  socket.on('error', (err) => log.warn({ err }, 'websocket error'));
}

/**
 * Closes an agent connection the way the agent expects: with TLS, a close_notify first (the
 * real agent logs a cut connection as an error); whatever is left after a second is cut.
 */
function hangUp(agent: Duplex): void {
  if (agent.destroyed) return;
  agent.end();
  setTimeout(() => agent.destroy(), 1000).unref();
}
