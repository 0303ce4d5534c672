import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  MessageFramer,
  clientMessage,
  daemonMessage,
  decodeExact,
  encode,
  renderProtocolFilter,
  type ClientMessage,
  type DaemonMessage,
} from '#shared/protocol/index.js';

/** Bytes the real mirrord 3.250.0 CLI and agent exchanged through the gateway (test/fixtures/mirrord-cli/README.md). */
const capture = (name: string) => readFileSync(new URL(`../fixtures/mirrord-cli/${name}.bin`, import.meta.url));

/** Frames a whole stream, fed in 7-byte pieces as a socket might deliver it; every byte must belong to a message. */
function framesOf<T>(
  codec: typeof clientMessage | typeof daemonMessage,
  bytes: Buffer,
): Array<{ frame: Buffer; m: T }> {
  const framer = new MessageFramer(codec as typeof daemonMessage, 1 << 24);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += 7) frames.push(...framer.push(bytes.subarray(at, at + 7)));
  assert.equal(
    frames.reduce((n, f) => n + f.length, 0),
    bytes.length,
    'no bytes left over',
  );
  return frames.map((f) => ({ frame: Buffer.from(f), m: decodeExact(codec as typeof daemonMessage, f) as T }));
}

const kinds = (ms: Array<{ m: { $: string; v?: unknown } }>) =>
  ms.map(({ m }) => {
    const inner = m.v as { $?: string; v?: { $?: string } } | null;
    return [m.$, inner?.$, inner?.$ === 'HttpRequestChunked' ? inner.v?.$ : undefined].filter(Boolean).join(' ');
  });

describe('the codec reads what the real mirrord CLI and agent send (captured)', () => {
  it('given the CLI side of a filtered steal, when framed and decoded, then each message re-encodes to its exact bytes', () => {
    const ms = framesOf<ClientMessage>(clientMessage, capture('steal-cli-to-agent'));
    assert.deepEqual(kinds(ms), [
      'SwitchProtocolVersion',
      'ReadyForLogs',
      'TcpSteal PortSubscribe',
      'Ping',
      'TcpSteal HttpResponseFramed',
    ]);
    for (const { frame, m } of ms) assert.deepEqual(Buffer.from(encode(clientMessage, m)), frame, m.$);
    const version = ms[0]!.m;
    assert.ok(version.$ === 'SwitchProtocolVersion' && version.v === '1.29.0');
    const sub = ms[2]!.m;
    assert.ok(sub.$ === 'TcpSteal' && sub.v.$ === 'PortSubscribe' && sub.v.v.$ === 'FilteredHttpEx');
    assert.equal(sub.v.v.v[0], 80);
    assert.equal(renderProtocolFilter(sub.v.v.v[1]), 'header=x-user: jim');
  });

  it('given the agent side, when framed and decoded, then the stolen request is a chunked StartV2 with its headers and body', () => {
    const ms = framesOf<DaemonMessage>(daemonMessage, capture('steal-agent-to-cli'));
    assert.deepEqual(kinds(ms), [
      'SwitchProtocolVersionResponse',
      'Pong',
      'TcpSteal SubscribeResult',
      'TcpSteal HttpRequestChunked StartV2',
      'TcpSteal Close',
    ]);
    for (const { frame, m } of ms) assert.deepEqual(Buffer.from(encode(daemonMessage, m)), frame, m.$);
    const req = ms[3]!.m;
    assert.ok(req.$ === 'TcpSteal' && req.v.$ === 'HttpRequestChunked' && req.v.v.$ === 'StartV2');
    const r = req.v.v.v.request;
    assert.equal(`${r.method} ${r.uri} ${r.version}`, 'POST /captured?x=1 HTTP/1.1');
    assert.deepEqual(
      r.headers.find(([k]) => k === 'x-user')?.[1].map((v) => Buffer.from(v).toString()),
      ['jim'],
    );
    assert.deepEqual(
      r.body.frames.map((f) => (f.$ === 'Data' ? Buffer.from(f.v).toString() : f.$)),
      ['hello-body'],
    );
    assert.equal(req.v.v.v.metadata.v.destination.port, 80);
  });

  it('given a mirror session, when decoded, then the agent mirrors HTTP as a Tcp chunked request', () => {
    const cli = framesOf<ClientMessage>(clientMessage, capture('mirror-cli-to-agent'));
    assert.deepEqual(kinds(cli), ['SwitchProtocolVersion', 'ReadyForLogs', 'Tcp PortSubscribe', 'Ping', 'Ping']);
    const agent = framesOf<DaemonMessage>(daemonMessage, capture('mirror-agent-to-cli'));
    assert.deepEqual(kinds(agent), [
      'SwitchProtocolVersionResponse',
      'Pong',
      'Tcp SubscribeResult',
      'Tcp HttpRequestChunked StartV2',
      'Tcp Close',
      'Pong',
    ]);
    for (const { frame, m } of agent) assert.deepEqual(Buffer.from(encode(daemonMessage, m)), frame, m.$);
  });
});
