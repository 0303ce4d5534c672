import { Reader, daemonMessage, decodeExact, tagOf, variantAt } from '#shared/protocol/index.js';
import type { StartedSession } from './start-session.js';

/** What the relay counts (Prometheus in production): the real operator's traffic metrics. */
export interface TrafficMeter {
  stolenConnection(s: StartedSession, port: number): void;
  stolenRequest(s: StartedSession, port: number): void;
}

const MIRROR = tagOf(daemonMessage, 'Tcp');
const STEAL = tagOf(daemonMessage, 'TcpSteal');
const SUBSCRIBE_RESULT = tagOf(daemonMessage, 'Tcp', 'SubscribeResult');
const CHUNKED = tagOf(daemonMessage, 'TcpSteal', 'HttpRequestChunked');
const CHUNKED_STARTS = [
  tagOf(daemonMessage, 'TcpSteal', 'HttpRequestChunked', 'StartV1'),
  tagOf(daemonMessage, 'TcpSteal', 'HttpRequestChunked', 'StartV2'),
];

/**
 * Reads one u16 field of a steal message's struct by skipping the fields before it: the stolen
 * request's port without decoding its headers and body (the relay's hot path).
 */
function portReader(...path: [string, ...string[]]): [number, (frame: Uint8Array) => number] {
  const { tag, codec } = variantAt(daemonMessage, 'TcpSteal', ...path);
  let shape = codec.shape;
  const steps: Array<(r: Reader) => unknown> = [];
  for (const field of ['connection', 'destination_port', 'port']) {
    if (shape.k !== 'struct') break;
    const i = shape.fields.findIndex(([k]) => k === field);
    if (i < 0) continue;
    for (const [, c] of shape.fields.slice(0, i)) steps.push((r) => c.skip(r));
    const c = shape.fields[i]![1];
    if (field === 'connection') shape = c.shape;
    else steps.push((r) => c.read(r));
  }
  return [
    tag,
    (frame) => {
      // Both tags are one byte; the framer has already checked the whole message.
      const r = new Reader(frame, 2);
      let v: unknown;
      for (const s of steps) v = s(r);
      return v as number;
    },
  ];
}

/** The stolen connections and requests the agent announces (DaemonTcp variant → its port). */
const STOLEN_CONNECTIONS = new Map([portReader('NewConnectionV1'), portReader('NewConnectionV2')]);
const STOLEN_REQUESTS = new Map([portReader('HttpRequest'), portReader('HttpRequestFramed')]);

/**
 * What the gateway counts in one agent message, read from its first bytes and decoded only
 * when it must: a subscription's answer (no longer awaited), a stolen connection or request
 * (their port read past the fields before it).
 */
export function countAgentMessage(
  frame: Uint8Array,
  awaiting: Array<{ mode: 'mirror' | 'steal'; port: number }>,
  session: StartedSession,
  traffic: TrafficMeter | undefined,
): void {
  const tag = frame[0];
  if ((tag !== MIRROR && tag !== STEAL) || frame.length < 2) return;
  const sub = frame[1]!;
  if (sub === SUBSCRIBE_RESULT) {
    const m = decodeExact(daemonMessage, frame);
    if ((m.$ !== 'Tcp' && m.$ !== 'TcpSteal') || m.v.$ !== 'SubscribeResult') return;
    const mode = m.$ === 'Tcp' ? 'mirror' : 'steal';
    const port = m.v.v.$ === 'Ok' ? m.v.v.v : undefined;
    const i = awaiting.findIndex((a) => a.mode === mode && (port === undefined || a.port === port));
    if (i >= 0) awaiting.splice(i, 1);
    return;
  }
  if (tag !== STEAL || !traffic) return;
  const connection = STOLEN_CONNECTIONS.get(sub);
  if (connection) return traffic.stolenConnection(session, connection(frame));
  const request = STOLEN_REQUESTS.get(sub);
  if (request) return traffic.stolenRequest(session, request(frame));
  if (sub !== CHUNKED || !CHUNKED_STARTS.includes(frame[2]!)) return;
  const m = decodeExact(daemonMessage, frame);
  if (m.$ !== 'TcpSteal' || m.v.$ !== 'HttpRequestChunked') return;
  if (m.v.v.$ === 'StartV1') traffic.stolenRequest(session, m.v.v.v.port);
  else if (m.v.v.$ === 'StartV2') traffic.stolenRequest(session, m.v.v.v.metadata.v.destination.port);
}
