import { storeNames, storeUnderTest, type StoreUnderTest } from '../support/ledger-stores.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { readEventStream } from '../support/jetstream.js';
import { call, commandSubject, querySubject } from '#shared/nats/index.js';
import { isAppError } from '#shared/errors/index.js';
import { newSessionId } from '#shared/ids/index.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { diffProjections, replayProjections } from '../../services/ledger/src/app/replay-projections.js';
import { LedgerQueries } from '../../services/ledger/src/app/ledger-queries.js';
import { eventually } from '../support/eventually.js';

const cmd = <T = Record<string, unknown>>(nc: NatsConnection, verb: string, body: Record<string, unknown>) =>
  call<T>(nc, commandSubject('ledger', verb), body);
const query = <T = Record<string, unknown>>(nc: NatsConnection, what: string, body: Record<string, unknown> = {}) =>
  call<T>(nc, querySubject('ledger', what), body);
const client = (user: string) => ({
  client_user: user,
  client_name: `${user} name`,
  client_hostname: `${user}-host`,
  client_cli_version: '3.150.0',
});
const startBody = (id: string, user = 'alice', target = 'deployment/ip-visit-counter') => ({
  session_id: id,
  target,
  namespace: 'default',
  client: client(user),
});

async function rejects(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isAppError(e), `not an AppError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

for (const storeName of storeNames())
  describe(`ledger over real NATS and ${storeName}`, () => {
    let nats: NatsServer;
    let nc: NatsConnection;
    let ledger: ServiceProcess;
    let under: StoreUnderTest;
    let dbUrl: string;
    const env = () => ({ ...nats.env, LEDGER_DB: dbUrl, SESSION_UNUSED_TTL: '6' });

    before(async () => {
      nats = await startNatsServer();
      under = await storeUnderTest(storeName);
      dbUrl = await under.newDatabase('ledger');
      ledger = await startService('ledger', env());
      nc = await nats.connect();
    });
    after(async () => {
      await nc?.close();
      await ledger?.stop();
      await nats?.[Symbol.asyncDispose]();
      await under?.stop();
    });

    it('runs a session through every command and logs the seed lines', async () => {
      const a = newSessionId();
      const started = await cmd<{ events: Array<{ type: string; position: number }> }>(nc, 'start', {
        ...startBody(a),
        key: 'k',
        branch_name: 'my-KEY-1',
      });
      assert.equal(started.events[0]!.type, 'SessionStarted');
      const stolen = await cmd<{ events: Array<{ type: string }> }>(nc, 'port-subscribe', {
        session_id: a,
        client_user: 'alice',
        port: 80,
        mode: 'steal',
        http_filter: 'header=X-PG-Tenant: Avi.+',
      });
      assert.equal(stolen.events[0]!.type, 'PortStolen');
      await cmd(nc, 'port-subscribe', { session_id: a, client_user: 'alice', port: 9090, mode: 'mirror' });
      await cmd(nc, 'port-unsubscribe', { session_id: a, client_user: 'alice', port: 9090 });
      const live = await query<{
        sessions: Array<{ id: string; ports: Array<{ port: number; http_filter: string }> }>;
      }>(nc, 'sessions');
      const mine = live.sessions.find((s) => s.id === a)!;
      assert.deepEqual(
        mine.ports.map((p) => [p.port, p.http_filter]),
        [[80, 'header=X-PG-Tenant: Avi.+']],
      );
      await cmd(nc, 'end', { session_id: a, client_user: 'alice' });
      const released = await ledger.waitFor((l) => l.msg === 'Port Released' && l.session_id === a && l.port === 80);
      const ended = await ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === a);
      assert.equal(ended.level, 'info');
      assert.equal(released.reason, 'SessionEnded');
      for (const f of [
        'target',
        'namespace',
        'client_hostname',
        'client_name',
        'client_user',
        'client_id',
        'session_id',
        'session_duration',
      ])
        assert.ok(f in ended, `Session Ended line lacks ${f}`);
      const stolenLine = await ledger.waitFor((l) => l.msg === 'Port Stolen' && l.session_id === a);
      assert.equal(stolenLine.http_filter, 'header=X-PG-Tenant: Avi.+');
      assert.ok(
        ledger.lines.indexOf(released) < ledger.lines.indexOf(ended),
        'Port Released comes before Session Ended',
      );
      const one = await query<{ session: { status: string; end_reason: string } }>(nc, 'session', { id: a });
      assert.equal(one.session.status, 'ended');
      const trail = await query<{ events: Array<{ type: string }> }>(nc, 'events', { session_id: a });
      assert.deepEqual(
        trail.events.map((e) => e.type),
        ['SessionStarted', 'PortStolen', 'PortMirrored', 'PortReleased', 'PortReleased', 'SessionEnded'],
      );
    });

    it('refuses unknown sessions, double ends, foreign users and bad input with the right codes', async () => {
      const a = newSessionId();
      await rejects(cmd(nc, 'end', { session_id: a, client_user: 'alice' }), 'NotFound');
      await cmd(nc, 'start', startBody(a));
      await rejects(cmd(nc, 'start', startBody(a, 'mallory')), 'Forbidden');
      await rejects(
        cmd(nc, 'port-subscribe', { session_id: a, client_user: 'alice', port: 80, mode: 'stael' }),
        'Invalid',
        /^mode:/,
      );
      await rejects(cmd(nc, 'start', { ...startBody(newSessionId()), target: 'ingress/x' }), 'Invalid', /^target:/);
      await rejects(cmd(nc, 'start', { ...startBody('xyz') }), 'Invalid', /^session_id:/);
      await cmd(nc, 'kill', { session_id: a, by: 'admin' });
      await rejects(cmd(nc, 'end', { session_id: a, client_user: 'alice' }), 'Conflict', /already ended \(Killed\)/);
      await rejects(cmd(nc, 'kill', { session_id: a, by: 'admin' }), 'Conflict');
      // A garbled payload is a named Invalid, not a crash.
      const reply = await nc.request(commandSubject('ledger', 'start'), new Uint8Array([0xc1, 0xff, 0x00]));
      assert.match(new TextDecoder().decode(reply.data), /not valid msgpack|Invalid/);
    });

    it('enforces port locks across sessions: abort names the holder, continue, override ends the holder', async () => {
      const [a, b, c] = [newSessionId(), newSessionId(), newSessionId()];
      const target = `deployment/locks-${a.toLowerCase()}`;
      await cmd(nc, 'start', startBody(a, 'alice', target));
      await cmd(nc, 'start', startBody(b, 'bob', target));
      await cmd(nc, 'start', startBody(c, 'carol', target));
      await cmd(nc, 'port-subscribe', { session_id: a, client_user: 'alice', port: 80, mode: 'steal' });
      await rejects(
        cmd(nc, 'port-subscribe', {
          session_id: b,
          client_user: 'bob',
          port: 80,
          mode: 'steal',
          http_filter: 'header=x',
        }),
        'PortAlreadyStolen',
        new RegExp(`session ${a} \\(user alice\\)`),
      );
      const cont = await cmd<{ events: Array<{ type: string }> }>(nc, 'port-subscribe', {
        session_id: b,
        client_user: 'bob',
        port: 80,
        mode: 'steal',
        on_concurrent_steal: 'continue',
      });
      assert.equal(cont.events.length, 1);
      await cmd(nc, 'port-subscribe', {
        session_id: c,
        client_user: 'carol',
        port: 80,
        mode: 'steal',
        on_concurrent_steal: 'override',
      });
      const endedA = await query<{ session: { status: string; end_reason: string; killed_by: string } }>(
        nc,
        'session',
        {
          id: a,
        },
      );
      assert.deepEqual(
        [endedA.session.status, endedA.session.end_reason, endedA.session.killed_by],
        ['ended', 'Overridden', c],
      );
      const relA = await ledger.waitFor((l) => l.msg === 'Port Released' && l.session_id === a);
      assert.equal(relA.reason, 'Overridden');
      const events = await query<{ events: Array<{ type: string; data: { lock?: boolean } }> }>(nc, 'events', {
        session_id: b,
      });
      assert.equal(events.events.find((e) => e.type === 'PortStolen')!.data.lock, false);
    });

    it('publishes every event to MIRRORD_EVENTS once, with Nats-Msg-Id = event id', async () => {
      const store = await openLedgerStore(dbUrl);
      const all = (await store.readAll(0, 100_000)).map((s) => s.event);
      await store.close();
      const msgs = await eventually('every event on the stream', async () => {
        const m = await readEventStream(nc);
        return m.length >= all.length ? m : undefined;
      });
      assert.equal(msgs.length, all.length);
      assert.deepEqual(
        msgs.map((m) => m.msgId),
        all.map((e) => e.id),
      );
      assert.deepEqual(
        msgs.map((m) => m.event.id),
        all.map((e) => e.id),
      );
      assert.equal(msgs[0]!.subject, `mirrord.events.${all[0]!.type}.${all[0]!.session_id}`);
    });

    it('detects a stale append in the store', async () => {
      const store = await openLedgerStore(dbUrl);
      const a = newSessionId();
      await cmd(nc, 'start', startBody(a));
      const [first] = await store.readStream(a);
      const stale = { ...first!, id: `0190f000-0000-7000-8000-${a.slice(4)}`, position: 0 };
      const [out] = await store.appendBatch([{ events: [stale] }]);
      await store.close();
      assert.equal(out!.ok, false);
      assert.ok(!out!.ok && isAppError(out!.error, 'Conflict'), String(!out!.ok && out!.error));
    });

    it('kill-all per namespace and for all; statistics count distinct users', async () => {
      const a = newSessionId();
      const b = newSessionId();
      await cmd(nc, 'start', { ...startBody(a, 'dave'), namespace: 'team-a' });
      await cmd(nc, 'start', { ...startBody(b, 'erin'), namespace: 'team-b' });
      const killed = await cmd<{ events: Array<{ type: string; session_id: string }> }>(nc, 'kill-all', {
        by: 'admin',
        namespace: 'team-a',
      });
      assert.deepEqual(
        killed.events.filter((e) => e.type === 'SessionEnded').map((e) => e.session_id),
        [a],
      );
      const stats = await query<{ dau: number; mau: number }>(nc, 'statistics');
      assert.ok(stats.dau >= 5 && stats.mau >= stats.dau, JSON.stringify(stats));
      await cmd(nc, 'kill-all', { by: 'admin' });
      assert.deepEqual((await query<{ sessions: unknown[] }>(nc, 'sessions')).sessions, []);
    });

    it('ends an unused session after the TTL; activity keeps one alive; restart grants a full TTL', async () => {
      const idle = newSessionId();
      const kept = newSessionId();
      await cmd(nc, 'start', startBody(idle));
      await cmd(nc, 'start', startBody(kept));
      await cmd(nc, 'port-subscribe', { session_id: idle, client_user: 'alice', port: 8080, mode: 'mirror' });
      const t0 = Date.now();
      const beat = setInterval(() => void cmd(nc, 'activity', { session_ids: [kept] }).catch(() => undefined), 1000);
      try {
        const line = await ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === idle, 12_000);
        assert.equal(line.reason, 'Unused');
        assert.ok(Date.now() - t0 >= 5500, 'not before the TTL');
        await ledger.waitFor((l) => l.msg === 'Port Released' && l.session_id === idle);
        const s = await query<{ session: { status: string } }>(nc, 'session', { id: kept });
        assert.equal(s.session.status, 'live');
        // Restart: the kept session stops reporting while the ledger is down, yet gets a full TTL.
        clearInterval(beat);
        await ledger.kill9();
        await new Promise((r) => setTimeout(r, 4000));
        ledger = await startService('ledger', env());
        const restarted = Date.now();
        const ended = await ledger.waitFor((l) => l.msg === 'Session Ended' && l.session_id === kept, 15_000);
        assert.equal(ended.reason, 'Unused');
        assert.ok(
          Date.now() - restarted >= 5500,
          `expired ${Date.now() - restarted} ms after restart, before a full TTL`,
        );
        const gone = await cmd<{ ended: Array<{ id: string; reason: string }> }>(nc, 'activity', {
          session_ids: [kept],
        });
        assert.deepEqual(gone.ended, [{ id: kept, reason: 'Unused' }]);
      } finally {
        clearInterval(beat);
      }
    });

    it("status (the sessions query, served from the writer's memory) equals the stored projection", async () => {
      // given live sessions with ports of every kind, in two namespaces, some ended
      for (let i = 0; i < 5; i++) {
        const id = newSessionId();
        await cmd(nc, 'start', {
          ...startBody(id, `user${i}`, `deployment/view-${i}`),
          ...(i % 2 ? { namespace: 'other' } : {}),
        });
        await cmd(nc, 'port-subscribe', { session_id: id, client_user: `user${i}`, port: 8080, mode: 'mirror' });
        await cmd(nc, 'port-subscribe', {
          session_id: id,
          client_user: `user${i}`,
          port: 80,
          mode: 'steal',
          http_filter: `path=/${i}`,
        });
        if (i === 4) await cmd(nc, 'end', { session_id: id, client_user: `user${i}` });
      }
      // when status is asked over NATS, in pages, and per namespace
      const pages = async (namespace?: string) => {
        const out: unknown[] = [];
        let after: string | undefined;
        do {
          const r = await query<{ sessions: unknown[]; next?: string }>(nc, 'sessions', {
            ...(namespace ? { namespace } : {}),
            ...(after ? { after } : {}),
          });
          out.push(...r.sessions);
          after = r.next;
        } while (after);
        return out;
      };
      // then it is what the projection tables hold, in id order
      const store = await openLedgerStore(dbUrl);
      try {
        const fromStore = new LedgerQueries(store);
        for (const ns of [undefined, 'other']) {
          const stored = (await fromStore.handle('sessions', ns ? { namespace: ns } : {})) as { sessions: unknown[] };
          assert.ok(stored.sessions.length > 0);
          assert.deepEqual(await pages(ns), stored.sessions);
        }
      } finally {
        await store.close();
      }
      // and a caller holding the current version is told it is unchanged, until a session changes
      type Page = { sessions: unknown[]; version: string; unchanged?: boolean };
      const first = await query<Page>(nc, 'sessions');
      const again = await query<Page>(nc, 'sessions', { known: first.version });
      assert.deepEqual([again.unchanged, again.sessions.length, again.version], [true, 0, first.version]);
      await cmd(nc, 'start', startBody(newSessionId(), 'late', 'deployment/view-late'));
      const changed = await query<Page>(nc, 'sessions', { known: first.version });
      assert.notEqual(changed.version, first.version);
      assert.equal(changed.unchanged, undefined);
      assert.equal(changed.sessions.length, first.sessions.length + 1);
    });

    it('counts seats per billing period: distinct seats of the sessions live in it', async () => {
      // given sessions on two seats (one of them twice), one more on a third that ended before the period
      const t0 = Date.now();
      const seatOf = async (seat: string, end: boolean) => {
        const id = newSessionId();
        await cmd(nc, 'start', { ...startBody(id, `seat-${seat}`), seat });
        if (end) await cmd(nc, 'end', { session_id: id, client_user: `seat-${seat}` });
      };
      await seatOf('old', true);
      const from = Date.now() + 1;
      await new Promise((r) => setTimeout(r, 5));
      await seatOf('a'.repeat(64), true);
      await seatOf('a'.repeat(64), false);
      await seatOf('user:bob', false);
      // when the period from `from` is asked
      const seats = (f: number, t: number) => query<{ seats: number }>(nc, 'seats', { from: f, to: t });
      // then the two seats seen in it count, once each; the earlier one counts only in its own time
      assert.equal((await seats(from, from + 3_600_000)).seats, 2);
      assert.equal((await seats(t0 - 1000, from + 3_600_000)).seats, 3);
      await rejects(seats(from, from), 'Invalid', /to: must be after from/);
    });

    it('replay rebuilds projections equal to the live ones', async () => {
      const store = await openLedgerStore(dbUrl);
      const { events, projections } = await replayProjections(store);
      assert.ok(events > 20);
      assert.deepEqual(await diffProjections(store, projections), []);
      // And a tampered projection is caught.
      const live = [...projections.sessions.values()][0]!;
      await store.replaceProjections(
        [{ ...live, client_user: 'tampered' }, ...[...projections.sessions.values()].slice(1)],
        projections.ports.values(),
      );
      assert.equal((await diffProjections(store, projections)).length, 1);
      await store.replaceProjections(projections.sessions.values(), projections.ports.values());
      await store.close();
    });
  });
