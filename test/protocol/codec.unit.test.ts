import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MessageFramer,
  MAX_NESTING,
  Malformed,
  NeedMore,
  Reader,
  TooDeep,
  TooLarge,
  UnknownTag,
  Writer,
  clientMessage,
  daemonMessage,
  decodeExact,
  encode,
  refused,
  subscribed,
  type ClientMessage,
  type DaemonMessage,
} from '#shared/protocol/index.js';
import { arbitraryOf, deepClientSteal, deepDaemonRefusal, everyVariantOf } from '../support/protocol-gen.js';

const hex = (b: Uint8Array) =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
/** Byte views become arrays, so values decoded from a Buffer compare with generated ones. */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array
    ? Array.from(v)
    : Array.isArray(v)
      ? v.map(plain)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
        : v;

describe('bincode 2 standard(): golden vectors (data-plane.md, protocol 1.29.0)', () => {
  const client = (m: ClientMessage) => hex(encode(clientMessage, m));
  const daemon = (m: DaemonMessage) => hex(encode(daemonMessage, m));
  it('given the worked examples, when encoded, then the bytes are the ones the real CLI and agent exchange', () => {
    assert.equal(client({ $: 'Ping' }), '07');
    assert.equal(daemon({ $: 'Pong' }), '07');
    assert.equal(client({ $: 'TcpSteal', v: { $: 'PortSubscribe', v: { $: 'All', v: 80 } } }), '02 00 00 50');
    assert.equal(client({ $: 'TcpSteal', v: { $: 'PortSubscribe', v: { $: 'All', v: 8080 } } }), '02 00 00 fb 90 1f');
    assert.equal(client({ $: 'Tcp', v: { $: 'PortSubscribe', v: 80 } }), '01 00 50');
    assert.equal(daemon({ $: 'TcpSteal', v: { $: 'SubscribeResult', v: { $: 'Ok', v: 80 } } }), '02 03 00 50');
    assert.equal(
      daemon({ $: 'TcpSteal', v: { $: 'SubscribeResult', v: { $: 'Err', v: { $: 'PortAlreadyStolen', v: 80 } } } }),
      '02 03 01 07 50',
    );
    assert.equal(client({ $: 'SwitchProtocolVersion', v: '1.29.0' }), '0a 06 31 2e 32 39 2e 30');
  });
  it('given the gateway refuses port 80 as already stolen at 1.29.0, then its frame is 02 03 01 07 50', () => {
    assert.equal(hex(refused('1.29.0', { mode: 'steal', port: 80 }, { kind: 'PortAlreadyStolen' })), '02 03 01 07 50');
    assert.equal(hex(subscribed('mirror', 80)), '01 03 00 50');
  });
  it('given integers at each varint boundary, then they take the documented widths', () => {
    const w = new Writer();
    w.uint(250);
    w.uint(251);
    w.uint(65536);
    w.ubig(1n << 32n);
    w.i64(-1n);
    w.i32(-2147483648);
    w.ubig(1n << 64n);
    assert.equal(
      hex(w.done()),
      'fa fb fb 00 fc 00 00 01 00 fd 00 00 00 00 01 00 00 00 01 fc ff ff ff ff fe 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00',
    );
    const r = new Reader(w.done());
    assert.deepEqual(
      [r.uint(16), r.uint(16), r.uint(32), r.ubig(64), r.i64(), r.i32(), r.ubig(128)],
      [250, 251, 65536, 1n << 32n, -1n, -2147483648, 1n << 64n],
    );
  });
});

describe('the complete DaemonMessage grammar frames a stream incrementally', () => {
  it('given every variant with random values, concatenated and split at random boundaries, then each decodes back equal', () => {
    fc.assert(
      fc.property(
        everyVariantOf(daemonMessage),
        fc.array(arbitraryOf(daemonMessage), { maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 64 }),
        (variants, more, cuts) => {
          const msgs = [...variants, ...more];
          const stream = Buffer.concat(msgs.map((m) => encode(daemonMessage, m as DaemonMessage)));
          const framer = new MessageFramer(daemonMessage, 1 << 20);
          const got: Uint8Array[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            got.push(...framer.push(stream.subarray(at, at + n)));
            at += n;
          }
          assert.equal(got.length, msgs.length);
          assert.equal(framer.buffered, 0);
          got.forEach((f, i) => assert.deepEqual(plain(decodeExact(daemonMessage, f)), plain(msgs[i]), `#${i}`));
        },
      ),
      { numRuns: 10 },
    );
  });
  it('given every ClientMessage variant, then each round-trips exactly', () => {
    const roundTrips = (m: unknown) => {
      const bytes = encode(clientMessage, m as ClientMessage);
      assert.deepEqual(plain(decodeExact(clientMessage, Buffer.from(bytes))), plain(m));
    };
    fc.assert(
      fc.property(everyVariantOf(clientMessage), (ms) => ms.forEach(roundTrips)),
      { numRuns: 5 },
    );
    fc.assert(fc.property(arbitraryOf(clientMessage), roundTrips), { numRuns: 300 });
  });
  it('given a message cut short, then the framer waits for more bytes instead of failing', () => {
    const data = encode(daemonMessage, {
      $: 'TcpSteal',
      v: { $: 'Data', v: { connection_id: 9n, bytes: new Uint8Array(100_000) } },
    });
    const framer = new MessageFramer(daemonMessage, 1 << 20);
    assert.deepEqual(framer.push(data.subarray(0, 5)), []);
    assert.deepEqual(framer.push(data.subarray(5, 50_000)), []);
    const [whole] = framer.push(data.subarray(50_000));
    assert.equal(whole!.length, data.length);
    assert.throws(() => decodeExact(daemonMessage, data.subarray(0, 10)), NeedMore);
  });
});

describe('bytes that can never decode are told apart from bytes still on their way', () => {
  it('given an unknown top-level tag, then UnknownTag names the type and the tag', () => {
    const framer = new MessageFramer(daemonMessage, 1024);
    assert.throws(
      () => framer.push(Uint8Array.of(16, 0, 0)),
      (e: unknown) => e instanceof UnknownTag && e.type === 'DaemonMessage' && e.tag === 16,
    );
  });
  it('given a bool byte 2 or an integer marker too wide for its type, then Malformed', () => {
    // LayerTcp::PortSubscribe(u16) announced with a u32 marker.
    assert.throws(() => decodeExact(clientMessage, Uint8Array.of(1, 0, 252, 0, 0, 1, 0)), Malformed);
    // PauseTargetRequest(bool) with 2.
    assert.throws(() => decodeExact(clientMessage, Uint8Array.of(9, 2)), Malformed);
    // Close(String) with invalid UTF-8.
    assert.throws(() => decodeExact(daemonMessage, Uint8Array.of(0, 2, 0xc3, 0x28)), /not valid UTF-8/);
  });
  it('given a message announcing more bytes than the limit, then TooLarge before the bytes arrive', () => {
    const framer = new MessageFramer(daemonMessage, 4096);
    const head = encode(daemonMessage, { $: 'Close', v: 'x'.repeat(10_000) }).subarray(0, 8);
    assert.throws(
      () => framer.push(head),
      (e: unknown) => e instanceof TooLarge && e.limit === 4096,
    );
  });
  it('given a 60 KB filter nested 20,000 deep from either side, then TooDeep (a Malformed), not a stack overflow', () => {
    const isDeep = (e: unknown) =>
      e instanceof TooDeep && e instanceof Malformed && /nested more than 32/.test(e.message);
    const agent = deepDaemonRefusal(20_000);
    assert.ok(agent.length > 60_000);
    assert.throws(() => new MessageFramer(daemonMessage, 1 << 20).push(agent), isDeep);
    assert.throws(() => decodeExact(daemonMessage, agent), isDeep);
    assert.throws(() => decodeExact(clientMessage, deepClientSteal(20_000)), isDeep);
    // One level past the limit is refused the same way; at the limit the message decodes and frames.
    assert.throws(() => decodeExact(clientMessage, deepClientSteal(MAX_NESTING + 1)), isDeep);
    assert.equal(decodeExact(clientMessage, deepClientSteal(MAX_NESTING)).$, 'TcpSteal');
    assert.equal(new MessageFramer(daemonMessage, 1 << 20).push(deepDaemonRefusal(MAX_NESTING)).length, 1);
  });
  it('given 10,000 random byte strings, then every one decodes, waits or is Malformed: nothing else is thrown', () => {
    const outcomes = { ok: 0, more: 0, bad: 0 };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (b) => {
        for (const codec of [daemonMessage, clientMessage]) {
          try {
            codec.read(new Reader(b));
            outcomes.ok++;
          } catch (e) {
            if (e instanceof NeedMore) outcomes.more++;
            else if (e instanceof Malformed) outcomes.bad++;
            else throw e;
          }
        }
      }),
      { numRuns: 10_000 },
    );
    assert.ok(outcomes.ok > 0 && outcomes.more > 0 && outcomes.bad > 0, JSON.stringify(outcomes));
  });
});
