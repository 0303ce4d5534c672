import { daemonMessage, decodeExact } from '#shared/protocol/index.js';
import type { StartedSession } from './start-session.js';

/** What the relay counts (Prometheus in production): the real operator's traffic metrics. */
export interface TrafficMeter {
  stolenConnection(s: StartedSession, port: number): void;
  stolenRequest(s: StartedSession, port: number): void;
}

/**
 * What the gateway counts in one agent message, read from its first bytes and decoded only
 * when it counts: a subscription's answer (no longer awaited), a stolen connection or request.
 */
export function countAgentMessage(
  frame: Uint8Array,
  awaiting: Array<{ mode: 'mirror' | 'steal'; port: number }>,
  session: StartedSession,
  traffic: TrafficMeter | undefined,
): void {
  const tag = frame[0];
  if ((tag !== 1 && tag !== 2) || frame.length < 2) return;
  const sub = frame[1]!;
  // DaemonTcp: 0 NewConnectionV1, 3 SubscribeResult, 4/5 HttpRequest(Framed), 6 Chunked (0 StartV1, 3 StartV2), 7 NewConnectionV2.
  const counted =
    sub === 3 ||
    (tag === 2 &&
      (sub === 0 || sub === 4 || sub === 5 || sub === 7 || (sub === 6 && (frame[2] === 0 || frame[2] === 3))));
  if (!counted) return;
  const m = decodeExact(daemonMessage, frame);
  if (m.$ !== 'Tcp' && m.$ !== 'TcpSteal') return;
  const mode = m.$ === 'Tcp' ? 'mirror' : 'steal';
  const t = m.v;
  switch (t.$) {
    case 'SubscribeResult': {
      const port = t.v.$ === 'Ok' ? t.v.v : undefined;
      const i = awaiting.findIndex((a) => a.mode === mode && (port === undefined || a.port === port));
      if (i >= 0) awaiting.splice(i, 1);
      return;
    }
    case 'NewConnectionV1':
      return traffic?.stolenConnection(session, t.v.destination_port);
    case 'NewConnectionV2':
      return traffic?.stolenConnection(session, t.v.connection.destination_port);
    case 'HttpRequest':
    case 'HttpRequestFramed':
      return traffic?.stolenRequest(session, t.v.port);
    case 'HttpRequestChunked':
      if (t.v.$ === 'StartV1') traffic?.stolenRequest(session, t.v.v.port);
      else if (t.v.$ === 'StartV2') traffic?.stolenRequest(session, t.v.v.metadata.v.destination.port);
      return;
    default:
      return;
  }
}
