import { sql, type Kysely } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import type { HeldPortRow, SessionRow } from '../../domain/projections.js';
import type { SessionReadModels } from '../../domain/store.js';
import { kyselyMetricsSnapshot, sqliteMetricsSnapshot } from './metrics-snapshot.js';
import type { Database } from './schema.js';

const num = <T extends Record<string, unknown>>(r: T, ...keys: (keyof T)[]): T => {
  for (const k of keys) if (r[k] !== null && r[k] !== undefined) (r as Record<keyof T, unknown>)[k] = Number(r[k]);
  return r;
};

/** Reads of the sessions and held_ports projections (kept in step by the append). */
export function sqlReadModels(db: Kysely<Database>, sqlite: BetterSqlite3.Database | undefined): SessionReadModels {
  // The longest ended session's duration, kept up to date from the sessions ended since the last
  // look (by the ended_at index); the margin covers ended_at times stepping back (clock steps).
  let longest = { ms: 0, seen: 0 };
  const longestSession = async (): Promise<number> => {
    const r = await db
      .selectFrom('sessions')
      .select([sql<number | null>`max(ended_at - started_at)`.as('d'), sql<number | null>`max(ended_at)`.as('e')])
      .where('ended_at', '>', longest.seen - 60_000)
      .executeTakeFirst();
    if (r?.e !== null && r?.e !== undefined)
      longest = { ms: Math.max(longest.ms, Number(r.d ?? 0)), seen: Math.max(longest.seen, Number(r.e)) };
    return longest.ms;
  };
  return {
    async sessionRow(id) {
      const r = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? num(r, 'started_at', 'ended_at') : undefined;
    },

    async liveSessions(namespace) {
      let q = db.selectFrom('sessions').selectAll().where('status', '=', 'live');
      if (namespace !== undefined) q = q.where('namespace', '=', namespace);
      const sessions = (await q.orderBy('started_at').orderBy('id').execute()).map((r) =>
        num(r, 'started_at', 'ended_at'),
      );
      const ids = sessions.map((s) => s.id);
      const ports =
        ids.length === 0
          ? []
          : await db
              .selectFrom('held_ports')
              .selectAll()
              .where('session_id', 'in', ids)
              .orderBy('session_id')
              .orderBy('port')
              .execute();
      return { sessions, ports: ports.map((p) => num(p, 'since')) };
    },

    async *allSessionRows() {
      let after = '';
      for (;;) {
        const page = await db
          .selectFrom('sessions')
          .selectAll()
          .where('id', '>', after)
          .orderBy('id')
          .limit(5000)
          .execute();
        for (const r of page) yield num(r, 'started_at', 'ended_at');
        if (page.length < 5000) return;
        after = page[page.length - 1]!.id;
      }
    },

    async *sessionIds() {
      let after = '';
      for (;;) {
        const page = await db
          .selectFrom('sessions')
          .select('id')
          .where('id', '>', after)
          .orderBy('id')
          .limit(50_000)
          .execute();
        for (const r of page) yield r.id;
        if (page.length < 50_000) return;
        after = page[page.length - 1]!.id;
      }
    },

    async allPortRows() {
      return (await db.selectFrom('held_ports').selectAll().execute()).map((p) => num(p, 'since'));
    },

    async distinctUsersBetween(from, to) {
      // Started by `to` and not ended before `from`: a session still live now was live then too.
      const r = await db
        .selectFrom('sessions')
        .select(sql<number>`count(distinct client_user)`.as('n'))
        .where('status', '<>', 'pending')
        .where('started_at', '<=', to)
        .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>=', from)]))
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },

    async sessionsLiveAt(at, namespace) {
      // Live at `at`: still open (few rows, by the ended_at index), or ended after it and
      // started within the longest session's duration before it (by the started_at index); a
      // single "started by at and not ended by then" query reads half the table on average.
      const longest = await longestSession();
      const base = () => {
        let q = db.selectFrom('sessions').selectAll().where('status', '<>', 'pending').where('started_at', '<=', at);
        if (namespace !== undefined) q = q.where('namespace', '=', namespace);
        return q;
      };
      const [open, ended] = await Promise.all([
        base().where('ended_at', 'is', null).execute(),
        base()
          .where('started_at', '>=', at - longest)
          .where('ended_at', '>', at)
          .execute(),
      ]);
      return [...open, ...ended]
        .map((r) => num(r, 'started_at', 'ended_at'))
        .sort((a, b) => a.started_at - b.started_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async metricsSnapshot(buckets, now) {
      return sqlite ? sqliteMetricsSnapshot(sqlite, buckets, now) : kyselyMetricsSnapshot(db, buckets, now);
    },

    async replaceProjections(sessions: Iterable<SessionRow>, ports: Iterable<HeldPortRow>) {
      longest = { ms: 0, seen: 0 };
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('held_ports').execute();
        await trx.deleteFrom('sessions').execute();
        let buf: SessionRow[] = [];
        for (const s of sessions) {
          buf.push(s);
          if (buf.length === 1000) {
            await trx.insertInto('sessions').values(buf).execute();
            buf = [];
          }
        }
        if (buf.length) await trx.insertInto('sessions').values(buf).execute();
        const p = [...ports];
        for (let i = 0; i < p.length; i += 1000)
          await trx
            .insertInto('held_ports')
            .values(p.slice(i, i + 1000))
            .execute();
      });
    },
  };
}
