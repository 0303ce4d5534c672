/**
 * The abuse suite (issue 12): one user tries to take the operator down or slip past a policy.
 * Loopback only and bounded: every answer must be a success or a 4xx naming the field, and
 * the services must still be up at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sessionIdToDecimal } from '#shared/ids/index.js';
import type { HttpFilterValue } from '#shared/protocol/index.js';
import { eventually } from '../support/eventually.js';
import { csrFor } from '../support/csr.js';
import { API, http, SessionClient, startSystem, type System } from '../support/system.js';

type Msg = Record<string, unknown>;
type Status = {
  kind?: string;
  reason?: string;
  code?: number;
  message?: string;
  details?: { causes?: Array<{ field: string }> };
};

const LONG = 2000;
/** A distinct header filter just under HTTP_FILTER_MAX_LENGTH (2048 with the `header=` prefix). */
const bigFilter = (i: number): HttpFilterValue => ({
  $: 'Header',
  v: `^x-tenant: ${String(i).padStart(6, '0')}${'z'.repeat(LONG - 20)}$`,
});

async function send(
  sys: System,
  method: string,
  path: string,
  init: { body?: string | Buffer; headers?: Record<string, string>; token?: string } = {},
) {
  const res = await fetch(`${sys.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${init.token ?? 'alice-token'}`, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await res.text();
  let body: Status & Msg = {};
  try {
    body = JSON.parse(text) as Status & Msg;
  } catch {
    body = { message: text };
  }
  return { status: res.status, body };
}

/** A 4xx Kubernetes Status naming `field` (in the message, as the CLI prints it). */
function assertRefused(r: { status: number; body: Status }, status: number, field: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.kind, 'Status', JSON.stringify(r.body));
  assert.equal(r.body.code, status);
  assert.ok(r.body.message?.startsWith(`${field}:`), `message should name ${field}: ${r.body.message}`);
}

async function connect(sys: System, opts: Parameters<typeof SessionClient.connect>[1] = {}) {
  const c = await SessionClient.connect(sys, opts);
  assert.ok(c.client, `connect refused: ${JSON.stringify(c.body)}`);
  return { client: c.client, id: await c.client.sessionId() };
}

async function metricsText(url: string): Promise<string> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return r.text();
}
/** The sum of a metric's samples over all its label sets. */
const metric = (text: string, line: RegExp): number => {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(line.source, 'gm'))) sum += Number(m[1]);
  return sum;
};
const CREATED = /^mirrord_sessions_create_total(?:\{[^}]*\})? (\d+)$/;

describe('abuse: one user cannot take the operator down', () => {
  let sys: System;
  let metricsUrl: string;
  before(async () => {
    // A generous message rate here: these tests build large histories quickly (the rate limit has its own system below).
    sys = await startSystem({
      OPERATOR_METRICS_ENABLED: 'true',
      OPERATOR_METRICS_ADDR: '127.0.0.1:0',
      SESSION_MESSAGES_PER_SECOND: '100000',
    });
    metricsUrl = String((await sys.gateway.waitFor((l) => l.msg === 'metrics served')).url);
  });
  after(async () => {
    await sys?.stop();
  });

  const stillUp = async () => {
    assert.equal(sys.ledger.proc.exitCode, null, `the ledger exited: ${sys.ledger.stderr.slice(-500)}`);
    assert.equal(sys.gateway.proc.exitCode, null, 'the gateway exited');
    assert.equal((await http(sys, 'GET', '/readyz', null)).status, 200);
  };

  it('a session whose history is larger than the bus limit still answers: get, events page by page, delete', async () => {
    const { client, id } = await connect(sys, { target: 'deployment.history' });
    // 8 rounds of 64 filtered steals and their releases: ~1.3 MB of events, over NATS' 1 MiB.
    for (let round = 0; round < 8; round++) {
      const subs = await Promise.all(
        Array.from({ length: 64 }, (_, i) => client.subscribe('steal', 1000 + i, bigFilter(round * 100 + i))),
      );
      for (const a of subs) assert.equal(a.ok, true, JSON.stringify(a));
      // The protocol does not answer an unsubscribe: each release counts in the events below.
      await Promise.all(Array.from({ length: 64 }, (_, i) => client.unsubscribe('steal', 1000 + i)));
    }
    const one = await http(sys, 'GET', `${API}/namespaces/default/sessions/${id}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    let items = 0;
    let pages = 0;
    let cont: string | undefined;
    do {
      const page = await http(sys, 'GET', `${API}/sessions/${id}/events${cont ? `?continue=${cont}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body).slice(0, 300));
      items += (page.body.items as unknown[]).length;
      cont = (page.body.metadata as { continue?: string }).continue;
      pages++;
    } while (cont);
    assert.equal(items, 1 + 8 * 128, 'every event, across pages');
    assert.ok(pages > 1, 'the history came in more than one page');
    const del = await http(sys, 'DELETE', `${API}/sessions/${id}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await stillUp();
  });

  it('live sessions larger than the bus limit still list, show in status and scrape as metrics', async () => {
    const clients: SessionClient[] = [];
    for (let s = 0; s < 10; s++) {
      const { client } = await connect(sys, {
        target: `deployment.wide-${s}`,
        token: s % 2 ? 'bob-token' : 'alice-token',
      });
      const answers = await Promise.all(
        Array.from({ length: 64 }, (_, i) => client.subscribe('steal', 2000 + i, bigFilter(s * 100 + i))),
      );
      for (const a of answers) assert.equal(a.ok, true, JSON.stringify(a));
      clients.push(client);
    }
    const list = await http(sys, 'GET', `${API}/sessions`);
    assert.equal(list.status, 200);
    const wide = (list.body.items as Array<{ spec: { session: { target: string; locked_ports: unknown[] } } }>).filter(
      (i) => i.spec.session.target.startsWith('deployment/wide-'),
    );
    assert.equal(wide.length, 10);
    assert.equal(
      wide.reduce((n, i) => n + i.spec.session.locked_ports.length, 0),
      640,
    );
    assert.equal((await http(sys, 'GET', `${API}/mirrordoperators/operator`)).status, 200);
    const text = await metricsText(metricsUrl);
    assert.ok(metric(text, /^mirrord_teams_held_ports\{type="steal"\} (\d+)$/) >= 640, text.slice(0, 500));
    for (const c of clients) await c.close();
    await stillUp();
  });

  it('oversized and pathological filters are refused naming the field; the session lives on', async () => {
    const { client } = await connect(sys, { target: 'deployment.filters' });
    // The answer a real agent gives a filter it cannot compile: Remote(BadHttpFilterExRegex(filter, why)).
    const why = async (pattern: string) => {
      const r = await client.subscribe('steal', 80, { $: 'Header', v: pattern });
      const e = r.error as { code: string; detail: { $: string; v: [unknown, string] } };
      assert.equal(e.code, 'Remote');
      assert.equal(e.detail.$, 'BadHttpFilterExRegex');
      return e.detail.v[1];
    };
    const huge = await why('a'.repeat(65_000));
    assert.match(huge, /^http_filter\.header_filter: .*more than the 2048 allowed \(HTTP_FILTER_MAX_LENGTH\)/);
    assert.match(await why('(a+)+$'), /^http_filter\.header_filter: .*too costly to match/);
    assert.deepEqual(await client.subscribe('steal', 80, { $: 'Header', v: '^x-user: alice$' }), { ok: true });
    await client.close();
  });

  it('repeated query parameters, bad encodings, long paths and large bodies are 4xx Statuses naming what the user sent', async () => {
    for (const [path, field] of [
      [`${API}/events?since=1h&since=2h`, 'since'],
      [`${API}/events?until=1h&until=2h`, 'until'],
      [`${API}/events?user=a&user=b`, 'user'],
      [`${API}/events?target=deployment/a&target=deployment/b`, 'target'],
      [`${API}/mirrordoperators/operator?at=1h&at=2h`, 'at'],
      [`${API}/events?continue=${Buffer.from('p:99999999999999999999').toString('base64url')}`, 'continue'],
      [`${API}/events?limit=5000`, 'limit'],
      [`${API}/events?since=99999999999999999999d`, 'since'],
    ] as const)
      assertRefused(await send(sys, 'GET', path), 422, field);
    const limit = await send(sys, 'GET', `${API}/events?limit=5000`);
    assert.match(String(limit.body.message), /from 1 to 1000/);
    assertRefused(await send(sys, 'GET', `${API}/namespaces/default/sessions/%E0%A4%A`), 400, 'path');
    assertRefused(await send(sys, 'GET', `${API}/namespaces/default/targets/${'d'.repeat(2000)}`), 414, 'path');
    const big = await send(sys, 'POST', `${API}/mirrordoperators/operator/certificate`, {
      body: 'x'.repeat(2 * 1024 * 1024),
      headers: { 'content-type': 'text/plain' },
    });
    assertRefused(big, 413, 'body');
    assert.equal(big.body.reason, 'RequestEntityTooLarge');
    await stillUp();
  });

  it('weak and odd CSRs are refused with 422 naming the key type; Ed25519 is signed', async () => {
    const post = (pem: string) =>
      send(sys, 'POST', `${API}/mirrordoperators/operator/certificate`, {
        body: pem,
        headers: { 'content-type': 'application/x-pem-file' },
      });
    for (const [spec, why] of [
      [{ type: 'rsa', bits: 512 }, /RSA key of 512 bits is too weak/],
      [{ type: 'rsa', bits: 1024 }, /RSA key of 1024 bits is too weak/],
      [{ type: 'dsa', bits: 2048 }, /DSA key is not accepted/],
    ] as const) {
      const r = await post(csrFor(spec));
      assertRefused(r, 422, 'certificate request');
      assert.match(String(r.body.message), why);
    }
    // A PEM body that is not base64 is the sender's error, named, not a 500.
    assertRefused(
      await post('-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----'),
      422,
      'certificate request',
    );
    assert.equal((await post(csrFor({ type: 'ed25519' }))).status, 201);
  });

  it('a resume must be the same user, namespace and target; an unknown client-chosen id starts a new session', async () => {
    const { client, id } = await connect(sys, { target: 'deployment.boats' });
    assert.deepEqual(await client.subscribe('steal', 80), { ok: true });
    const sid = sessionIdToDecimal(id);
    const other = await SessionClient.connect(sys, {
      target: 'deployment.elsewhere',
      headers: { 'x-session-id': sid },
    });
    assert.equal(other.status, 409);
    assert.match(
      String(other.body!.message),
      /^x-session-id: session [0-9A-F]{16} runs on deployment\/boats in namespace default, not deployment\/elsewhere/,
    );
    const otherNs = await SessionClient.connect(sys, {
      target: 'deployment.boats',
      namespace: 'books',
      headers: { 'x-session-id': sid },
    });
    assert.equal(otherNs.status, 409);
    const stranger = await SessionClient.connect(sys, {
      target: 'deployment.boats',
      token: 'bob-token',
      headers: { 'x-session-id': sid },
    });
    assert.equal(stranger.status, 403);
    // The mirrord CLI always chooses its id: an unknown one is a new session of its own, holding nothing.
    const { client: invented, id: inventedId } = await connect(sys, {
      target: 'deployment.boats',
      headers: { 'x-session-id': '12345678901234567' },
    });
    assert.equal(inventedId, '002BDC545D6B4B87');
    await invented.close();
    // The lock stayed with the one session on boats: a second unfiltered steal is still refused.
    const { client: second } = await connect(sys, { target: 'deployment.boats', token: 'bob-token' });
    assert.equal(((await second.subscribe('steal', 80)).error as Msg).code, 'PortAlreadyStolen');
    await second.close();
    await client.close();
    const ended = await SessionClient.connect(sys, { target: 'deployment.boats', headers: { 'x-session-id': sid } });
    assert.equal(ended.status, 410);
    assert.equal(ended.body!.reason, 'ReconnectNotPossible');
    assert.match(String(ended.body!.message), /already ended/);
  });

  it('refuses a user more live sessions than USER_MAX_SESSIONS (20), naming the limit', async () => {
    const open: SessionClient[] = [];
    for (let i = 0; i < 20; i++)
      open.push((await connect(sys, { target: `deployment.many-${i}`, token: 'aviram-token' })).client);
    const one = await SessionClient.connect(sys, { target: 'deployment.many-x', token: 'aviram-token' });
    assert.equal(one.status, 403);
    assert.match(String(one.body!.message), /already has 20 live sessions, the USER_MAX_SESSIONS limit \(20\)/);
    for (const c of open) await c.close();
    await stillUp();
  });

  it('while NATS is down, API calls fail fast with 503 "message bus unavailable"; after it returns, /metrics counts again', async () => {
    const before = metric(await metricsText(metricsUrl), CREATED);
    await sys.nats.kill9();
    let during: Awaited<ReturnType<typeof http>>;
    try {
      await eventually(
        'the gateway is not ready',
        async () => (await http(sys, 'GET', '/readyz', null)).status === 503,
        10_000,
      );
      during = await http(sys, 'GET', `${API}/sessions`);
    } finally {
      await sys.nats.restart();
    }
    await eventually(
      'the gateway is ready again',
      async () => (await http(sys, 'GET', '/readyz', null)).status === 200,
    );
    // Metrics follow events again without a gateway restart.
    const { client: fresh } = await connect(sys, { target: 'deployment.after-restart' });
    await fresh.close();
    await eventually(
      '/metrics counts the session started after the restart',
      async () => metric(await metricsText(metricsUrl), CREATED) >= before + 1 || undefined,
    );
    assert.equal(during.status, 503);
    assert.equal(during.body.reason, 'ServiceUnavailable');
    assert.equal((during.body.details as { error_code?: string }).error_code, 'Unavailable');
    assert.match(String(during.body.message), /^message bus unavailable/);
  });

  it('NATS down longer than the unused TTL: every session that was connected is still live a full TTL after it returns', async () => {
    const connected = await Promise.all(
      Array.from({ length: 5 }, (_, i) => connect(sys, { target: `deployment.outage-${i}` })),
    );
    await sys.nats.kill9();
    const downAt = Date.now();
    // The outage itself: longer than SESSION_UNUSED_TTL (6 s), the gateway not ready at its end.
    await eventually(
      'NATS down for longer than the unused TTL, the gateway not ready',
      async () => Date.now() - downAt > 9000 && (await http(sys, 'GET', '/readyz', null)).status === 503,
      20_000,
      500,
    );
    await sys.nats.restart();
    await eventually(
      'the gateway reaches the ledger again',
      async () => (await http(sys, 'GET', '/readyz', null)).status === 200,
    );
    const regainedAt = Date.now();
    assert.ok(
      sys.ledger.lines.some((l) => l.msg === 'message bus regained: every live session gets a full unused TTL'),
    );
    await eventually(
      'a full unused TTL has passed since NATS returned, with every session live',
      async () => {
        const r = await http(sys, 'GET', `${API}/sessions`);
        assert.equal(r.status, 200);
        const live = new Set((r.body.items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name));
        for (const c of connected) assert.ok(live.has(c.id), `session ${c.id} was ended during the outage`);
        return Date.now() - regainedAt > 8000 || undefined;
      },
      30_000,
      500,
    );
    for (const c of connected) assert.equal(c.client.closeCode, undefined, 'socket still open');
    for (let i = 0; i < 5; i++) {
      const audit = await http(sys, 'GET', `${API}/events?target=deployment/outage-${i}`);
      const types = (audit.body.items as Array<{ type: string }>).map((e) => e.type);
      assert.deepEqual(types, ['SessionStarted'], 'the audit trail shows no end during the outage');
    }
    for (const c of connected) await c.client.close();
    await stillUp();
  });
});

describe('abuse: a flood on one session, with the default limits', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });
  const stillUp = async () => {
    assert.equal(sys.ledger.proc.exitCode, null, `the ledger exited: ${sys.ledger.stderr.slice(-500)}`);
    assert.equal((await http(sys, 'GET', '/readyz', null)).status, 200);
  };

  it('a flood of subscribe/unsubscribe on one session is rate limited or cut off, and the session stays live', async () => {
    const { client, id } = await connect(sys, { target: 'deployment.flood' });
    for (let i = 0; i < 3000; i++)
      client.ws.send(
        JSON.stringify({ id: i, type: i % 2 ? 'port.unsubscribe' : 'port.subscribe', port: 3000, mode: 'mirror' }),
      );
    await eventually(
      'the flood answered or the connection closed',
      () =>
        client.closeCode !== undefined ||
        client.messages.some((m) => (m.error as Msg | undefined)?.code === 'TooManyRequests'),
    );
    for (const m of client.messages) {
      if (m.ok !== false) continue;
      const code = (m.error as Msg).code;
      assert.ok(['TooManyRequests', 'NotFound', 'Conflict'].includes(String(code)), JSON.stringify(m));
    }
    const limited = client.messages.find((m) => (m.error as Msg | undefined)?.code === 'TooManyRequests');
    if (limited)
      assert.match(
        String((limited.error as Msg).message),
        /^message: more than 20 messages a second on this session \(SESSION_MESSAGES_PER_SECOND\)/,
      );
    const still = await http(sys, 'GET', `${API}/namespaces/default/sessions/${id}`);
    assert.equal(still.status, 200);
    assert.equal(((still.body.status as Msg).ended as boolean | undefined) ?? false, false);
    await stillUp();
  });
});
