/**
 * Issue 25, the gateway's side: one client cannot grow the gateway without bound, multiply its
 * session's budget with more sockets, flood the log, or be told to retry what cannot succeed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { sessionIdToDecimal } from '#shared/ids/index.js';
import { clientMessage, encode } from '#shared/protocol/index.js';
import { SessionClient, startSystem, type System } from '../support/system.js';
import type { LogLine } from '../support/service-process.js';
import { deepClientSteal } from '../support/protocol-gen.js';
import { eventually } from '../support/eventually.js';

type Msg = Record<string, unknown>;
const RATE = 5;
const MAX_MESSAGE = 64 * 1024;
/** The gateway's budget for one client socket: PROTOCOL_MAX_MESSAGE_BYTES + 2 MiB. */
const BUDGET = MAX_MESSAGE + 2 * 1024 * 1024;

/** A subscription refused by SESSION_MESSAGES_PER_SECOND (the one refusal worth retrying). */
const rateLimited = (a: Msg) =>
  (a.error as Msg | undefined)?.code === 'SystemFailure' &&
  /SESSION_MESSAGES_PER_SECOND/.test(String(((a.error as Msg).detail as Msg).message));

describe('relay limits: one client against the gateway', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem({
      SESSION_MESSAGES_PER_SECOND: String(RATE),
      SESSION_MAX_EVENTS: '12',
      PROTOCOL_MAX_MESSAGE_BYTES: String(MAX_MESSAGE),
    });
  });
  after(async () => {
    await sys?.stop();
  });

  const connect = async (opts: Parameters<typeof SessionClient.connect>[1] = {}) => {
    const r = await SessionClient.connect(sys, { target: 'deployment.limits', ...opts });
    assert.ok(r.client, JSON.stringify(r.body));
    return r.client;
  };
  const of = (id: string, msg: RegExp) => (l: LogLine) => l.session_id === id && msg.test(l.msg);

  it('a client sending refused requests without reading is closed 1008 past its budget; another client is answered; the refusals are logged once a second with a count', async () => {
    const other = await connect({ token: 'bob-token' });
    const spam = await connect();
    // The client stops reading: the gateway's refusals can only pile up on its side.
    const tcp = (spam.ws as unknown as { _socket: Socket })._socket;
    tcp.pause();
    const steal = encode(clientMessage, { $: 'TcpSteal', v: { $: 'PortSubscribe', v: { $: 'All', v: 80 } } });
    const overBudget = of(spam.id, /^the client does not read what it is sent/);
    const started = Date.now();
    // ~100 bytes of refusal for each 10-byte request: 1,000,000 of them would be 100 MB.
    for (let sent = 0; sent < 1_000_000 && !sys.gateway.lines.some(overBudget); sent += 2000) {
      for (let i = 0; i < 2000; i++) spam.ws.send(steal);
      await eventually('the socket has handed our writes on', () => spam.ws.bufferedAmount <= 1 << 20, 60_000, 5);
    }
    const closed = await sys.gateway.waitFor(overBudget, 30_000);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(Number(closed.held_bytes) > BUDGET, JSON.stringify(closed));
    assert.ok(Number(closed.held_bytes) < BUDGET + 64 * 1024, 'closed as soon as it passed the budget');
    assert.equal(closed.budget_bytes, BUDGET);

    // Another user's socket is served meanwhile.
    await other.socket.ping();
    assert.deepEqual(await other.subscribe('mirror', 7000), { ok: true });

    // Once it reads again, the client finds its refusals and then the close: 1008.
    tcp.resume();
    assert.equal((await spam.socket.closed).code, 1008);
    const flushed = await sys.gateway.waitFor(of(spam.id, /more refusals on this socket, not logged one by one$/));
    const refusals = sys.gateway.lines.filter(
      of(spam.id, /^subscriptions faster than SESSION_MESSAGES_PER_SECOND; refused/),
    );
    // At most one line a second, each (and the last, as the socket went) saying how many it stands for.
    assert.ok(
      refusals.length >= 1 && refusals.length <= Math.ceil(seconds) + 2,
      `${refusals.length} lines in ${seconds} s`,
    );
    const told = refusals.reduce((n, l) => n + 1 + Number(l.suppressed ?? 0), Number(flushed.suppressed));
    assert.ok(told > 20_000, `every refusal counted (${told})`);
    assert.equal(sys.gateway.proc.exitCode, null);
    await other.close();
  });

  it("a session's sockets share one subscription budget: a second socket does not double it", async () => {
    const first = await connect({ target: 'deployment.shared-budget' });
    const second = await connect({
      target: 'deployment.shared-budget',
      headers: { 'x-session-id': sessionIdToDecimal(first.id) },
    });
    const t0 = performance.now();
    const answers = await Promise.all([
      ...Array.from({ length: 2 * RATE }, (_, i) => first.subscribe('mirror', 4000 + i)),
      ...Array.from({ length: 2 * RATE }, (_, i) => second.subscribe('mirror', 4100 + i)),
    ]);
    const refill = Math.ceil((RATE * (performance.now() - t0)) / 1000);
    const granted = answers.filter((a) => a.ok).length;
    assert.ok(
      answers.every((a) => a.ok || rateLimited(a)),
      JSON.stringify(answers),
    );
    assert.ok(granted <= RATE + refill, `${granted} granted, the session's budget is ${RATE} + ${refill} refilled`);
    await first.close();
    await second.close();
  });

  it('a session at SESSION_MAX_EVENTS is refused a subscription with the reason (ForbiddenWithReason), never told to retry', async () => {
    const c = await connect({ target: 'deployment.event-limit' });
    // Session Started is event 1; each mirrored port one more, so the 12th port is refused.
    let answer: Msg = {};
    for (let port = 5000; port < 5020; port++) {
      answer = await eventually(
        `port ${port} answered other than "too fast"`,
        async () => {
          const a = await c.subscribe('mirror', port);
          return rateLimited(a) ? undefined : a;
        },
        20_000,
        1000 / RATE,
      );
      if (!answer.ok) break;
    }
    const e = answer.error as Msg;
    assert.equal(e.code, 'Forbidden', JSON.stringify(answer));
    assert.equal(e.wire, 'ForbiddenWithReason');
    assert.match(String(e.message), /has recorded 12 events, the SESSION_MAX_EVENTS limit \(12\); end it/);
    await c.socket.ping();
    await c.close();
  });

  it('a client frame nested 20,000 deep (60 KB) closes that socket 1007, not 1011', async () => {
    const c = await connect({ target: 'deployment.deep' });
    c.ws.send(deepClientSteal(20_000));
    assert.equal((await c.socket.closed).code, 1007);
    await sys.gateway.waitFor(of(c.id, /^malformed message from the client .*nested more than 32 levels/));
  });
});
