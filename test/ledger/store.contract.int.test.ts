import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { LedgerEvent } from '#shared/events/index.js';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState, type LedgerState } from '../../services/ledger/src/domain/state.js';
import type { LedgerCommand } from '../../services/ledger/src/domain/commands.js';
import { FencedError, type EventFilter, type LedgerStore } from '../../services/ledger/src/domain/store.js';
import type { SessionRow } from '../../services/ledger/src/domain/projections.js';
import { openLedgerStore } from '../../services/ledger/src/adapters/sql/sql-store.js';
import { diffProjections, replayProjections } from '../../services/ledger/src/app/replay-projections.js';
import { storeNames, storeUnderTest, type StoreUnderTest } from '../support/ledger-stores.js';

const client = (user: string) => ({
  client_user: user,
  client_name: `${user} name`,
  client_hostname: `${user}-host`,
  client_id: `${user}-id`,
  user_id: `${user}-key`,
  client_cli_version: '3.250.0',
});

/** Commands through the real decider, so the store sees the events the ledger writes. */
class History {
  state: LedgerState = initialState();
  now = 1_700_000_000_000;
  run(cmd: LedgerCommand): LedgerEvent[] {
    const d = decide(cmd, this.state, { now: (this.now += 1000), newEventId: () => randomUUID() });
    for (const e of d.events) this.state = evolve(this.state, e);
    return d.events;
  }
}

const start = (session_id: string, user: string, target = 'deployment/web'): LedgerCommand => ({
  type: 'StartSession',
  session_id,
  target,
  namespace: 'default',
  agent: 'job',
  client: client(user),
});

/**
 * The ledger store's contract, one suite over every back end (SQLite, PostgreSQL): what the
 * ledger relies on — append with the per-session version check, idempotent ids, positions in
 * commit order, projections kept with the events, the queries, the metrics snapshot, replay.
 */
for (const name of storeNames())
  describe(`ledger store contract: ${name}`, () => {
    let under: StoreUnderTest;
    let store: LedgerStore;
    const h = new History();
    const A = '00000000000000A1';
    const B = '00000000000000B2';
    const C = '00000000000000C3';
    const positions: number[] = [];

    before(async () => {
      under = await storeUnderTest(name);
      store = await openLedgerStore(await under.newDatabase('contract'));
      await store.init();
    });
    after(async () => {
      await store?.close();
      await under?.stop();
    });

    it('appends commands in one batch with increasing positions, readable per session and in order', async () => {
      const items = [
        start(A, 'alice'),
        {
          type: 'SubscribePort',
          session_id: A,
          client_user: 'alice',
          port: 80,
          mode: 'steal',
          http_filter: 'header=x-user: alice',
          on_concurrent_steal: 'abort',
        },
        {
          type: 'SubscribePort',
          session_id: A,
          client_user: 'alice',
          port: 9090,
          mode: 'mirror',
          on_concurrent_steal: 'abort',
        },
        start(B, 'bob', 'pod/api'),
      ].map((c) => ({
        events: h.run(c as LedgerCommand),
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      }));
      const out = await store.appendBatch(items);
      assert.ok(
        out.every((o) => o.ok),
        JSON.stringify(out),
      );
      for (const o of out) if (o.ok) positions.push(...o.positions);
      assert.deepEqual(
        [...positions].sort((a, b) => a - b),
        positions,
        'positions follow the batch order',
      );
      assert.equal(await store.maxPosition(), positions.at(-1));
      const streamA = await store.readStream(A);
      assert.deepEqual(
        streamA.map((e) => [e.type, e.version]),
        [
          ['SessionStarted', 1],
          ['PortStolen', 2],
          ['PortMirrored', 3],
        ],
      );
      const all = await store.readAll(0, 100);
      assert.deepEqual(
        all.map((s) => s.event.position),
        positions,
      );
      assert.equal(await store.positionOf(all[1]!.event.id), positions[1]);
      // One read path: the outbox reads the command's traceparent with the event.
      const published = await store.readAll(positions[0]! - 1, 1);
      assert.equal(published[0]?.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    });

    it('refuses a stale append alone (the rest of the batch commits); a re-sent id is an idempotent success', async () => {
      const [first] = await store.readStream(A);
      const stale = { ...first!, id: randomUUID() };
      const ended = h.run({ type: 'EndSession', session_id: B, client_user: 'bob', reason: 'ClientClosed' });
      const out = await store.appendBatch([{ events: [stale] }, { events: ended }]);
      assert.equal(out[0]!.ok, false);
      assert.match(!out[0]!.ok ? out[0]!.error.message : '', /stale append to session 00000000000000A1/);
      assert.equal(out[1]!.ok, true);
      const again = await store.appendBatch([{ events: ended }]);
      assert.deepEqual(again, [{ ok: true, positions: out[1]!.ok ? out[1]!.positions : [] }]);
    });

    it('keeps the projections: live sessions with their ports, ended ones with the reason', async () => {
      const live = await store.liveSessions();
      assert.deepEqual(
        live.sessions.map((s) => s.id),
        [A],
      );
      assert.deepEqual(live.ports.map((p) => [p.port, p.mode, p.http_filter, Number(p.lock)]).sort(), [
        [80, 'steal', 'header=x-user: alice', 1],
        [9090, 'mirror', null, 0],
      ]);
      const b = await store.sessionRow(B);
      assert.equal(b?.status, 'ended');
      assert.equal(b?.end_reason, 'ClientClosed');
      assert.equal(b?.target, 'pod/api');
      const unsub = h.run({ type: 'UnsubscribePort', session_id: A, client_user: 'alice', port: 9090 });
      assert.ok((await store.appendBatch([{ events: unsub }]))[0]!.ok);
      assert.deepEqual(
        (await store.liveSessions()).ports.map((p) => p.port),
        [80],
      );
      const rejected = h.run({
        type: 'RejectSession',
        session_id: C,
        target: 'deployment/web',
        namespace: 'other',
        client: client('carol'),
        asked: 'start',
        code: 'Forbidden',
        message: 'no',
        policy: 'other/p',
      });
      assert.ok((await store.appendBatch([{ events: rejected }]))[0]!.ok);
      assert.equal((await store.sessionRow(C))?.status, 'pending');
    });

    it('answers the queries: by user, target, namespace, time and cursor; live at a moment; distinct users', async () => {
      const byUser = await store.queryEvents({ client_user: 'alice', limit: 100 });
      assert.ok(byUser.length >= 4 && byUser.every((e) => 'client_user' in e.data && e.data.client_user === 'alice'));
      const byTarget = await store.queryEvents({ target: 'pod/api', limit: 100 });
      assert.deepEqual(
        byTarget.map((e) => e.type),
        ['SessionStarted', 'SessionEnded'],
      );
      assert.deepEqual(
        (await store.queryEvents({ namespace: 'other', limit: 10 })).map((e) => e.session_id),
        [C],
      );
      const page = await store.queryEvents({ limit: 2 });
      const next = await store.queryEvents({ limit: 2, after: page.at(-1)!.position });
      assert.ok(next[0]!.position > page.at(-1)!.position);
      const aStarted = (await store.readStream(A))[0]!.time;
      assert.deepEqual(
        (await store.sessionsLiveAt(aStarted)).map((s) => s.id),
        [A],
        'B started after A: at A start only A was live',
      );
      const windowed = await store.queryEvents({ since: aStarted, until: aStarted, limit: 10 });
      assert.deepEqual(
        windowed.map((e) => e.session_id),
        [A],
      );
      assert.equal(await store.distinctUsersBetween(0, Date.now()), 2);
      // As of a moment before either started (`status --at` in the past): no users yet.
      assert.equal(await store.distinctUsersBetween(0, aStarted - 1), 0);
    });

    it('gives a metrics snapshot consistent with its position: sessions, rejections, refused connects', async () => {
      const blocked = h.run({
        type: 'RecordOutgoingBlocked',
        session_id: A,
        client_user: 'alice',
        protocol: 'TCP',
        address: '10.0.0.5',
        port: 5432,
        policy: 'default/no-db',
        message: 'blocked',
      });
      assert.ok((await store.appendBatch([{ events: blocked }]))[0]!.ok);
      const snap = await store.metricsSnapshot([1, 5, 60], Date.now());
      assert.equal(snap.position, await store.maxPosition());
      const alice = snap.sessions.find((s) => s.client_user === 'alice');
      const bob = snap.sessions.find((s) => s.client_user === 'bob');
      assert.deepEqual([alice?.created, alice?.ended, bob?.created, bob?.ended], [1, 0, 1, 1]);
      assert.deepEqual(snap.rejections, [{ policy: 'other/p', code: 'Forbidden', count: 1 }]);
      assert.deepEqual(snap.outgoing_blocked, [{ policy: 'default/no-db', protocol: 'TCP', count: 1 }]);
    });

    it('keeps checkpoints and activity; replay rebuilds the projections it holds', async () => {
      assert.equal(await store.getCheckpoint('publisher'), 0);
      await store.setCheckpoint('publisher', 7);
      await store.setCheckpoint('publisher', 9);
      assert.equal(await store.getCheckpoint('publisher'), 9);
      await store.recordActivity([{ session_id: A, last_seen: 123 }]);
      await store.recordActivity([{ session_id: A, last_seen: 456 }]);
      assert.equal((await store.lastActivity()).get(A), 456);
      const { projections } = await replayProjections(store);
      assert.deepEqual(await diffProjections(store, projections), []);
      await store.replaceProjections([], []);
      assert.ok((await diffProjections(store, projections)).length > 0);
      await store.replaceProjections(projections.sessions.values(), projections.ports.values());
      assert.deepEqual(await diffProjections(store, projections), []);
    });

    it('pages by namespace, user and time alike for many and few matching sessions; live at any moment', async () => {
      // given a store of its own: 120 short sessions in a busy namespace, two in a rare one, and
      // one long session that ends last (after a first "live at" read)
      const s = await openLedgerStore(await under.newDatabase('history'));
      try {
        const hh = new History();
        const ns = new Map<string, string>();
        const users = new Map<string, string>();
        const open = (id: string, user: string, namespace: string) => {
          ns.set(id, namespace);
          users.set(id, user);
          return hh.run({ ...start(id, user), namespace } as LedgerCommand);
        };
        const end = (id: string, user: string) =>
          hh.run({ type: 'EndSession', session_id: id, client_user: user, reason: 'ClientClosed' });
        const long = '0000000000001000';
        const items = [{ events: open(long, 'lena', 'busy') }];
        for (let i = 0; i < 122; i++) {
          const id = (0x2000 + i).toString(16).padStart(16, '0');
          const user = `u${i % 5}`;
          items.push({ events: open(id, user, i % 60 === 7 ? 'rare' : 'busy') }, { events: end(id, user) });
        }
        for (const o of await s.appendBatch(items)) assert.ok(o.ok);
        const mid = (await s.readStream(long))[0]!.time + 100_000;
        await s.sessionsLiveAt(mid);
        assert.ok((await s.appendBatch([{ events: end(long, 'lena') }]))[0]!.ok);
        const all = (await s.readAll(0, 10_000)).map((x) => x.event);

        // when pages are asked by namespace, user and window, then each is the log filtered
        const expect = (f: EventFilter) =>
          all
            .filter(
              (e) =>
                (f.namespace === undefined || ns.get(e.session_id) === f.namespace) &&
                (f.client_user === undefined || users.get(e.session_id) === f.client_user) &&
                (f.since === undefined || e.time >= f.since) &&
                (f.until === undefined || e.time <= f.until) &&
                e.position > (f.after ?? 0),
            )
            .slice(0, f.limit)
            .map((e) => e.id);
        for (const f of [
          { namespace: 'busy', limit: 10 },
          { namespace: 'busy', limit: 10, after: all[100]!.position },
          { namespace: 'rare', limit: 10 },
          { namespace: 'busy', since: mid, until: mid + 20_000, limit: 10 },
          { namespace: 'rare', since: mid, limit: 10 },
          { client_user: 'u3', limit: 7 },
          { client_user: 'lena', since: mid, limit: 7 },
        ] as EventFilter[])
          assert.deepEqual(
            (await s.queryEvents(f)).map((e) => e.id),
            expect(f),
            JSON.stringify(f),
          );

        // and the sessions live at a moment are those started by then and not ended yet
        const rows: SessionRow[] = [];
        for await (const r of s.allSessionRows()) rows.push(r);
        for (const at of [mid, mid + 50_500, hh.now - 500, hh.now + 1]) {
          const want = rows
            .filter((r) => r.started_at <= at && (r.ended_at === null || r.ended_at > at))
            .map((r) => r.id)
            .sort();
          assert.deepEqual((await s.sessionsLiveAt(at)).map((r) => r.id).sort(), want, `at ${at}`);
          assert.ok(want.includes(long) === at < hh.now);
        }
      } finally {
        await s.close();
      }
    });

    it("counts a window's licence usage: one row per seat (CI apart, with its peak), refused seats", async () => {
      // given, after what came before: a seat admitted over the licence, two overlapping CI sessions (one
      // naming a seat: a CI session takes none, by the one seat rule), a refused seat
      const from = h.now + 1;
      const [D, E, F, G] = ['00000000000000D4', '00000000000000E5', '00000000000000F6', '00000000000000A7'];
      const batches = [
        h.run({ ...start(D, 'dave'), seat: 's1', admission: 'overage' } as LedgerCommand),
        h.run({ ...start(E, 'erin'), ci: { provider: 'github' } } as LedgerCommand),
        h.run({ ...start(F, 'fred'), seat: 's3', ci: { provider: 'gitlab' } } as LedgerCommand),
        h.run({ type: 'EndSession', session_id: E, client_user: 'erin', reason: 'ClientClosed' }),
        h.run({
          type: 'RejectSession',
          session_id: G,
          target: 'deployment/web',
          namespace: 'default',
          client: client('gail'),
          asked: 'start',
          code: 'MaxSeatCountReached',
          message: 'all seats taken',
          seat: 's2',
        }),
      ];
      for (const events of batches) assert.ok((await store.appendBatch([{ events }]))[0]!.ok);
      // when the window's usage is read
      const u = await store.usageBetween(from, h.now + 1000);
      // then one seat (the CI sessions take none), the CI peak of two, one refusal; the seat count agrees
      assert.deepEqual(
        u.seats.map((x) => [x.seat, x.user, x.sessions, x.overage, x.unverified]),
        [['s1', 'dave', 1, 1, 0]],
      );
      assert.deepEqual([u.ci_sessions, u.ci_max_concurrency, u.refused], [2, 2, 1]);
      assert.equal(await store.seatsBetween(from, h.now + 1000), 1);
      assert.equal((await store.sessionRow(E))?.ci, JSON.stringify({ provider: 'github' }));
    });

    it('fences a deposed writer: once another process claims the store, the older one cannot append', async () => {
      // given two processes on one database, the first one the writer
      const url = await under.newDatabase('fence');
      const first = await openLedgerStore(url);
      const second = await openLedgerStore(url);
      try {
        await first.init();
        await second.init();
        const h2 = new History();
        assert.equal(await first.stillWriter(), false, 'a process that never claimed the store is not its writer');
        const e1 = await first.claimWriter();
        assert.equal(await first.stillWriter(), true);
        assert.equal((await first.appendBatch([{ events: h2.run(start('00000000000000D4', 'dora')) }]))[0]!.ok, true);
        // when the second claims it (it took over the lease)
        const e2 = await second.claimWriter();
        assert.ok(e2 > e1, `the newer claim has the higher epoch (${e1} then ${e2})`);
        assert.equal(await first.stillWriter(), false, 'the first knows it was deposed');
        assert.equal(await second.stillWriter(), true);
        // then the first one's append is refused, naming both epochs, and nothing of it is stored
        const late = h2.run(start('00000000000000E5', 'erin'));
        const [o] = await first.appendBatch([{ events: late }]);
        assert.equal(o!.ok, false);
        assert.ok(!o!.ok && o!.error instanceof FencedError, 'a FencedError');
        assert.match(!o!.ok ? o!.error.message : '', new RegExp(`epoch ${e1}\\b.*epoch ${e2}\\b`));
        assert.equal(await second.positionOf(late[0]!.id), undefined);
        // and the new writer appends
        assert.equal((await second.appendBatch([{ events: late }]))[0]!.ok, true);
      } finally {
        await first.close();
        await second.close();
      }
    });
  });
