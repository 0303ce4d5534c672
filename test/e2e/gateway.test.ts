import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { sessionIdToDecimal } from '#shared/ids/index.js';
import { mirrordCliCsr } from '../support/csr.js';
import { eventually } from '../support/eventually.js';
import { API, http, SessionClient, startSystem, type System } from '../support/system.js';

describe('gateway: operator API and session connect, end to end', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem({ PROTOCOL_MAX_MESSAGE_BYTES: '65536' });
  });
  after(async () => {
    await sys?.stop();
  });

  it('answers 401 without a valid token, and serves health without one', async () => {
    assert.equal((await http(sys, 'GET', `${API}/sessions`, null)).status, 401);
    const bad = await http(sys, 'GET', `${API}/sessions`, 'nope');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.kind, 'Status');
    assert.equal(bad.body.reason, 'Unauthorized');
    const ws = await SessionClient.connect(sys, { token: 'nope' });
    assert.equal(ws.status, 401);
    assert.equal((await http(sys, 'GET', '/healthz', null)).status, 200);
    assert.equal((await http(sys, 'GET', '/readyz', null)).status, 200);
  });

  it('serves discovery and the operator object', async () => {
    const d = await http(sys, 'GET', API);
    assert.equal(d.body.kind, 'APIResourceList');
    const names = (d.body.resources as Array<{ name: string }>).map((r) => r.name);
    for (const n of [
      'mirrordoperators',
      'mirrordoperators/certificate',
      'sessions',
      'targets',
      'targets/port-locks',
      'copytargets',
    ])
      assert.ok(names.includes(n), n);
    const op = await http(sys, 'GET', `${API}/mirrordoperators/operator`);
    assert.equal(op.body.kind, 'MirrordOperator');
    const spec = op.body.spec as Record<string, unknown>;
    // What the mirrord CLI deserialises strictly (operator/src/crd.rs, types.rs).
    assert.equal(spec.operator_version, '3.250.0');
    assert.equal(spec.mirrord_teams_version, '0.1.0');
    assert.equal(spec.protocol_version, '1.29.0');
    // No queue splitter in this system: the queue features are not advertised (the CLI would make a copy target).
    assert.deepEqual(spec.supported_features, ['ProxyApi', 'SessionManagement', 'CopyTarget', 'ConnectParamsInHeader']);
    const license = spec.license as Record<string, unknown>;
    assert.equal(license.organization, 'mirrord-teams');
    assert.match(String(license.expire_at), /^\d{4}-\d{2}-\d{2}$/);
    assert.match(String(license.fingerprint), /^[0-9a-f]{64}$/, 'derived from the operator CA');
  });

  it("takes the mirrord CLI's requests as kube-rs sends them: a raw PEM CSR as JSON, kill-all with an empty JSON body", async () => {
    // The CLI's CSR: Ed25519 signature, key labelled with X25519's OID; answered as a bare JSON string.
    const csr = mirrordCliCsr('laptop');
    const res = await fetch(`${sys.url}${API}/mirrordoperators/operator/certificate`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice-token', 'content-type': 'application/json' },
      body: csr.pem,
    });
    assert.equal(res.status, 201);
    const pem = (await res.json()) as unknown;
    assert.equal(typeof pem, 'string');
    const cert = new X509Certificate(pem as string);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ed25519');
    // user_id is base64 (no padding) of the 32 raw key bytes: 43 characters, as the CLI computes it.
    const der = cert.raw.toString('base64');
    const { client } = await SessionClient.connect(sys, { headers: { 'x-client-der': der } });
    const one = await http(sys, 'GET', `${API}/sessions/${client!.id}`);
    const userId = (one.body.spec as { session: { user_id: string } }).session.user_id;
    assert.equal(userId, csr.rawKey.toString('base64').replace(/=+$/, ''));
    assert.equal(userId.length, 43);
    // Its seat is the key's hex SHA-256 (one machine, one seat, in every cluster); status counts it.
    const started = (
      (await http(sys, 'GET', `${API}/sessions/${client!.id}/events`)).body.items as Array<{
        type: string;
        data: { seat?: string };
      }>
    ).find((e) => e.type === 'SessionStarted')!;
    assert.equal(started.data.seat, createHash('sha256').update(csr.rawKey).digest('hex'));
    const stats = (await http(sys, 'GET', `${API}/mirrordoperators/operator`)).body.status as {
      statistics: { seats_used: number; seats_licensed: number | null; billing_period_start: string };
    };
    assert.ok(stats.statistics.seats_used >= 1, JSON.stringify(stats.statistics));
    assert.equal(stats.statistics.seats_licensed, null, 'the open licence does not limit seats');
    assert.match(stats.statistics.billing_period_start, /^\d{4}-\d{2}-01$/);
    // kube-rs' collection DELETE: content-type application/json, no body.
    const killAll = await fetch(`${sys.url}${API}/sessions`, {
      method: 'DELETE',
      headers: { authorization: 'Bearer admin-token', 'content-type': 'application/json' },
    });
    assert.equal(killAll.status, 200);
    await client!.waitFor((m) => m.type === 'closed');
  });

  it('answers 422 Invalid naming the field, and 404 for unknown sessions and paths', async () => {
    const badTarget = await SessionClient.connect(sys, { target: 'ingress.x' });
    assert.equal(badTarget.status, 422);
    assert.match(String(badTarget.body!.message), /^target: unknown target type "ingress"/);
    const badMode = await SessionClient.connect(sys, { query: '&on_concurrent_steal=maybe' });
    assert.equal(badMode.status, 422);
    assert.match(String(badMode.body!.message), /^on_concurrent_steal:/);
    const badSid = await SessionClient.connect(sys, { headers: { 'x-session-id': 'not-a-number' } });
    assert.equal(badSid.status, 422);
    assert.match(String(badSid.body!.message), /^x-session-id:/);
    const badNs = await SessionClient.connect(sys, { namespace: 'Bad_NS' });
    assert.equal(badNs.status, 422);
    assert.equal((await http(sys, 'GET', `${API}/sessions/xyz!`)).status, 422);
    const missing = await http(sys, 'DELETE', `${API}/sessions/0000000000000001`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.reason, 'NotFound');
    assert.equal((await http(sys, 'GET', `${API}/namespaces/default/sessions/00000000000000FF`)).status, 404);
    assert.equal((await http(sys, 'GET', `${API}/nothing-here`)).status, 404);
    assert.equal((await http(sys, 'GET', `${API}/events?since=yesterday`)).status, 422);
  });

  it('runs a session over the socket in the mirrord protocol: ports, refusals, status, and close ends it', async () => {
    const { client: a } = await SessionClient.connect(sys);
    const id = await a!.sessionId();
    assert.match(id, /^[0-9A-F]{16}$/);
    assert.equal(a!.ws.protocol, 'v4.channel.k8s.io', 'the subprotocol is echoed');
    assert.deepEqual(await a!.subscribe('steal', 80, { $: 'Header', v: 'X-PG-Tenant: Avi.+' }), { ok: true });
    // A pattern that does not compile: the answer a real agent gives for a bad filter, naming the part.
    const badRe = await a!.subscribe('steal', 82, { $: 'Header', v: '(unclosed' });
    assert.equal((badRe.error as { code: string }).code, 'Remote');
    assert.match(JSON.stringify(badRe.error), /BadHttpFilterExRegex.*http_filter\.header_filter: invalid regex/);
    // The session survived the refusal.
    const list = await http(sys, 'GET', `${API}/namespaces/default/sessions`);
    const item = (
      list.body.items as Array<{ metadata: { name: string }; spec: { session: Record<string, unknown> } }>
    ).find((s) => s.metadata.name === id)!;
    assert.equal(list.body.kind, 'SessionList');
    assert.deepEqual(item.spec.session.locked_ports, [
      { port: 80, kind: 'steal', filter: 'header=X-PG-Tenant: Avi.+', lock: true },
    ]);
    assert.equal(item.spec.session.user, 'Alice/alice@alice-mbp');
    assert.equal(item.spec.session.target, 'deployment/ip-visit-counter');

    // A second user's unfiltered steal of the same port: PortAlreadyStolen, the frame the real CLI expects.
    const { client: b } = await SessionClient.connect(sys, { token: 'bob-token' });
    const bid = await b!.sessionId();
    const refused = await b!.subscribe('steal', 80);
    assert.deepEqual(refused.error, { code: 'PortAlreadyStolen', detail: 80 });
    assert.equal(b!.frames.at(-1)!.toString('hex'), '0203010750');
    // The wire names no holder; the audit trail does.
    const rejected = (
      (await http(sys, 'GET', `${API}/sessions/${bid}/events`)).body.items as Array<{
        type: string;
        data: Record<string, unknown>;
      }>
    ).find((e) => e.type === 'SessionRejected')!;
    assert.equal(rejected.data.held_by, id);
    assert.equal(rejected.data.held_by_user, 'alice');
    await b!.close();

    await a!.close(1000);
    const ended = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === id);
    assert.equal(ended.reason, 'ClientClosed');
    const trail = await http(sys, 'GET', `${API}/sessions/${id}/events`);
    assert.deepEqual(
      (trail.body.items as Array<{ type: string }>).map((e) => e.type),
      ['SessionStarted', 'PortStolen', 'PortReleased', 'SessionEnded'],
    );
  });

  it('bytes outside the protocol close only that socket: text, unknown tag, garbage, oversized', async () => {
    const { client: a } = await SessionClient.connect(sys);
    for (const [send, code] of [
      [(c: SessionClient) => c.ws.send('{"type":"port.subscribe"}'), 1003],
      [(c: SessionClient) => c.ws.send(Uint8Array.of(99, 1, 2)), 1007],
      [(c: SessionClient) => c.ws.send(Uint8Array.of(2, 0, 0, 252)), 1007],
      [(c: SessionClient) => c.ws.send(new Uint8Array(70 * 1024)), 1009],
    ] as const) {
      const { client: c } = await SessionClient.connect(sys);
      send(c!);
      assert.equal((await c!.socket.closed).code, code);
    }
    assert.ok(
      sys.gateway.lines.some((l) =>
        /unknown ClientMessage tag 99 from the client \(protocol 1\.29\.0\)/.test(String(l.msg)),
      ),
      'the log names the tag and the protocol version',
    );
    // Another session is untouched.
    await a!.socket.ping();
    assert.deepEqual(await a!.subscribe('mirror', 8181), { ok: true });
    await a!.close();
  });

  it('kill by decimal id tells the client who killed it; kill-all ends the rest', async () => {
    const { client: a } = await SessionClient.connect(sys);
    const id = await a!.sessionId();
    const r = await http(sys, 'DELETE', `${API}/sessions/${sessionIdToDecimal(id)}`, 'admin-token');
    assert.equal(r.status, 200);
    const closed = await a!.waitFor((m) => m.type === 'closed');
    assert.deepEqual(closed, { type: 'closed', reason: `mirrord session ${id} was killed by admin` });
    assert.equal((await a!.socket.closed).code, 1000);
    assert.equal((await http(sys, 'DELETE', `${API}/sessions/${id}`, 'admin-token')).status, 404);

    const { client: c } = await SessionClient.connect(sys, { namespace: 'team-a' });
    const { client: d } = await SessionClient.connect(sys, { namespace: 'team-b', token: 'bob-token' });
    const cid = await c!.sessionId();
    await d!.sessionId();
    const some = await http(sys, 'DELETE', `${API}/namespaces/team-a/sessions`, 'admin-token');
    assert.deepEqual((some.body.details as { killed: string[] }).killed, [cid]);
    await c!.waitFor((m) => m.type === 'closed');
    await http(sys, 'DELETE', `${API}/sessions`, 'admin-token');
    await d!.waitFor((m) => m.type === 'closed' && /was killed by admin$/.test(String(m.reason)));
    assert.deepEqual((await http(sys, 'GET', `${API}/sessions`)).body.items, []);
  });

  it("retain-active (DELETE sessions/inactive, the CLI's hidden command) ends the dropped sessions and keeps the connected ones", async () => {
    const { client: connected } = await SessionClient.connect(sys, { target: 'deployment.retain-a' });
    const { client: dropped } = await SessionClient.connect(sys, { target: 'deployment.retain-b' });
    const [keep, gone] = [await connected!.sessionId(), await dropped!.sessionId()];
    dropped!.ws.terminate();
    // Activity reports (GATEWAY_ACTIVITY_INTERVAL_MS is 1 s here) without the dropped one: the
    // ledger shows it quiet, as the operator status does.
    await eventually('the dropped session is quiet', async () => {
      const op = await http(sys, 'GET', `${API}/mirrordoperators/operator`, 'admin-token');
      const rows = (op.body.status as { sessions: Array<{ id: string; idle_secs?: number }> }).sessions;
      return rows.some((x) => x.id === gone && x.idle_secs !== undefined);
    });
    const r = await http(sys, 'DELETE', `${API}/sessions/inactive`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok((r.body.details as { killed: string[] }).killed.includes(gone), JSON.stringify(r.body));
    assert.ok(!(r.body.details as { killed: string[] }).killed.includes(keep));
    const ended = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === gone);
    assert.equal(ended.reason, 'Killed');
    const alive = await http(sys, 'GET', `${API}/sessions/${keep}`);
    assert.equal((alive.body.status as { ended: boolean }).ended, false);
    await connected!.close();
  });

  it('a dropped client reconnecting with its x-session-id within the TTL keeps its session; an ended one is 410', async () => {
    const { client: a } = await SessionClient.connect(sys);
    const id = await a!.sessionId();
    await a!.subscribe('steal', 8080);
    // A control session dropped at the same moment and never resumed: its Unused end is the
    // positive signal that a full TTL has passed since the drop.
    const { client: control } = await SessionClient.connect(sys, { target: 'deployment.control' });
    const controlId = await control!.sessionId();
    a!.ws.terminate();
    control!.ws.terminate();
    const stranger = await SessionClient.connect(sys, {
      token: 'bob-token',
      headers: { 'x-session-id': sessionIdToDecimal(id) },
    });
    assert.equal(stranger.status, 403);
    const { client: again } = await SessionClient.connect(sys, { headers: { 'x-session-id': sessionIdToDecimal(id) } });
    assert.equal((await again!.subscribe('steal', 8080)).ok, true);
    // Past the TTL from the drop (the control session expired): still alive, because the new
    // connection reports activity.
    const expired = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === controlId, 20_000);
    assert.equal(expired.reason, 'Unused');
    const s = await http(sys, 'GET', `${API}/sessions/${id}`);
    assert.equal(s.status, 200);
    assert.equal((s.body.status as { ended: boolean }).ended, false);
    assert.equal(sys.ledger.lines.filter((l) => l.msg === 'Session Started' && l.session_id === id).length, 1);
    await again!.close();
    // The mirrord CLI's special case: reconnecting to an ended session is 410 ReconnectNotPossible.
    const late = await SessionClient.connect(sys, { headers: { 'x-session-id': sessionIdToDecimal(controlId) } });
    assert.equal(late.status, 410);
    assert.equal(late.body!.reason, 'ReconnectNotPossible');
  });

  it('sessions of a gateway killed with -9 end as Unused after the TTL', async () => {
    const { client: a } = await SessionClient.connect(sys);
    const id = await a!.sessionId();
    await a!.subscribe('mirror', 9999);
    await sys.gateway.kill9();
    const t0 = Date.now();
    const ended = await sys.ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === id, 20_000);
    assert.equal(ended.reason, 'Unused');
    assert.ok(Date.now() - t0 >= 3000);
    await sys.restartGateway();
  });

  it('lists events by user with paging', async () => {
    const first = await http(sys, 'GET', `${API}/events?user=alice&limit=3&since=1h`);
    assert.equal(first.body.kind, 'EventList');
    const items = first.body.items as Array<{ data: { client_user: string }; position: number }>;
    assert.equal(items.length, 3);
    assert.ok(items.every((e) => e.data.client_user === 'alice'));
    const cont = (first.body.metadata as { continue: string }).continue;
    const second = await http(sys, 'GET', `${API}/events?user=alice&limit=3&continue=${cont}`);
    const next = second.body.items as Array<{ position: number }>;
    assert.ok(next[0]!.position > items[2]!.position);
    assert.equal((await http(sys, 'GET', `${API}/events?continue=garbage`)).status, 422);
  });
  it('signs a plugin CSR with the operator CA, and refuses a garbled one naming the field', async () => {
    const { createCsr, verifyIssued } = await import('#shared/pki/index.js');
    const post = (body: string) =>
      fetch(`${sys.url}${API}/mirrordoperators/operator/certificate`, {
        method: 'POST',
        body,
        headers: { authorization: 'Bearer alice-token', 'content-type': 'application/x-pem-file' },
      });
    const bad = await post('not a csr');
    assert.equal(bad.status, 422);
    assert.match(
      ((await bad.json()) as { message: string }).message,
      /^csr: expected a PEM certificate signing request/,
    );
    const { csrPem } = await createCsr('alice');
    const ok = await post(csrPem);
    assert.equal(ok.status, 201);
    const cert = (await ok.json()) as { certificate: string; user_id: string; client_id: string };
    const { readFileSync } = await import('node:fs');
    const caPem = readFileSync(`${sys.env.OPERATOR_CA_DIR}/ca.crt`, 'utf8');
    const v = verifyIssued(caPem, cert.certificate);
    assert.ok(v.ok);
    assert.equal(v.ok && v.publicKey, cert.user_id);
    assert.match(v.ok ? v.subject : '', /CN=alice/);
    const unauth = await fetch(`${sys.url}${API}/mirrordoperators/operator/certificate`, {
      method: 'POST',
      body: csrPem,
    });
    assert.equal(unauth.status, 401);
  });
});
