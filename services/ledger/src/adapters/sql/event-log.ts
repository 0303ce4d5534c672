import { sql, type Kysely, type Selectable, type SelectQueryBuilder } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import type { LedgerEvent } from '#shared/events/index.js';
import type { EventFilter, EventLog, StoredEvent } from '../../domain/store.js';
import { appendBatch } from './append.js';
import type { Capabilities } from './dialect.js';
import type { Database, EventsTable } from './schema.js';
import type { SqliteAppender } from './sqlite-append.js';

/** The writer this store's appends go through, set up by init and claimWriter. */
export interface Writer {
  /** The SQLite hand-written append path (statements prepared after migrating). */
  appender?: SqliteAppender;
  /** The epoch appends are conditional on (claimWriter); none: unchecked. */
  epoch?: number;
}

function parseRow(r: Selectable<EventsTable>): StoredEvent {
  const body = JSON.parse(r.body) as { actor: unknown; data: unknown; tp?: string };
  const event = {
    v: r.v,
    id: r.id,
    type: r.type,
    session_id: r.session_id,
    version: Number(r.version),
    position: Number(r.position),
    time: Number(r.time),
    actor: body.actor,
    data: body.data,
  } as LedgerEvent;
  return body.tp ? { event, traceparent: body.tp } : { event };
}

const toEvent = (r: Selectable<EventsTable>): LedgerEvent => parseRow(r).event;

/** Columns of a raw SQLite row read by readAll, in this order. */
const RAW_COLUMNS = 'position, id, session_id, version, type, time, v, body';
type RawRow = [number, string, string, number, string, number, number, string];

/**
 * parseRow for a raw (array) row: the log was validated by its contract when appended, so it
 * is read back as it was written, without an object per row from the driver.
 */
function parseRawRow(r: RawRow): StoredEvent {
  const body = JSON.parse(r[7]) as { actor: unknown; data: unknown; tp?: string };
  const event = {
    v: r[6],
    id: r[1],
    type: r[4],
    session_id: r[2],
    version: Number(r[3]),
    position: Number(r[0]),
    time: Number(r[5]),
    actor: body.actor,
    data: body.data,
  } as LedgerEvent;
  return body.tp ? { event, traceparent: body.tp } : { event };
}

/** How far event times may step back between appends (clock adjustments) without a time filter missing them. */
const CLOCK_MARGIN_MS = 60_000;

/** The event table: the one append path (SQLite's hand-written one or kysely's) and its reads. */
export function sqlEventLog(
  db: Kysely<Database>,
  cap: Capabilities,
  writer: Writer,
  sqlite?: BetterSqlite3.Database,
): EventLog {
  // Replay and the outbox read the whole log through readAll: on SQLite it skips kysely and the
  // driver's row objects (a profile of a 1M-event replay had them at a third of its time).
  let readPage: BetterSqlite3.Statement<[number, number], RawRow> | undefined;
  let totals: { sessions: number; events: number; at: number } | undefined;

  /**
   * SQLite plans a by-user/target/namespace page one way: every event of every matching
   * session, sorted (167 ms for a namespace of 24,000 sessions at 1M events). Walking the log in
   * position order finds a page among many matching sessions in a few ms but reads the whole
   * range for a rare one. Estimated rows: the walk ~ min(range, limit / share of sessions),
   * the index ~ matching sessions x events per session (costlier per row: random reads and a
   * sort); the walk wins above a number of matching sessions, counted up to that number only.
   */
  async function scanIsCheaper(
    after: number,
    upper: number | undefined,
    limit: number,
    matching: (
      sq: SelectQueryBuilder<Database, 'sessions', object>,
    ) => SelectQueryBuilder<Database, 'sessions', object>,
  ): Promise<boolean> {
    if (!totals || Date.now() - totals.at > 60_000) {
      const r = await db
        .selectFrom('sessions')
        .select(sql<number>`count(*)`.as('n'))
        .executeTakeFirst();
      totals = { sessions: Math.max(1, Number(r?.n ?? 0)), events: 0, at: Date.now() };
      const e = await db
        .selectFrom('events')
        .select(sql<number>`coalesce(max(position), 0)`.as('p'))
        .executeTakeFirst();
      totals.events = Number(e?.p ?? 0);
    }
    const RANDOM_READ_COST = 3;
    const perSession = Math.max(1, totals.events / totals.sessions) * RANDOM_READ_COST;
    const range = Math.max(0, (upper ?? totals.events) - after);
    const enough = Math.ceil(Math.min(Math.sqrt((limit * totals.sessions) / perSession), range / perSession)) + 1;
    const r = await db
      .selectFrom(matching(db.selectFrom('sessions')).select('id').limit(enough).as('m'))
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0) >= enough;
  }

  return {
    async appendBatch(items) {
      return writer.appender ? writer.appender.appendBatch(items) : appendBatch(db, cap, items, writer.epoch);
    },

    async readStream(sessionId) {
      const rows = await db
        .selectFrom('events')
        .selectAll()
        .where('session_id', '=', sessionId)
        .orderBy('version')
        .execute();
      return rows.map(toEvent);
    },

    async readAll(afterPosition, limit) {
      if (sqlite) {
        readPage ??= sqlite
          .prepare<[number, number], RawRow>(
            `SELECT ${RAW_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`,
          )
          .raw(true);
        return readPage.all(afterPosition, limit).map(parseRawRow);
      }
      const rows = await db
        .selectFrom('events')
        .selectAll()
        .where('position', '>', afterPosition)
        .orderBy('position')
        .limit(limit)
        .execute();
      return rows.map(parseRow);
    },

    async queryEvents(f: EventFilter) {
      let q = db.selectFrom('events').selectAll();
      if (f.session_id !== undefined) q = q.where('session_id', '=', f.session_id);
      // Time bounds become position bounds (events are appended in time order; a margin covers
      // small clock steps), so the page is read in position order without sorting the whole
      // range; the exact time test stays, kept off the time index with a unary plus.
      let after = f.after ?? 0;
      let upper: number | undefined;
      if (f.since !== undefined) {
        const r = await db
          .selectFrom('events')
          .select('position')
          .where('time', '>=', f.since - CLOCK_MARGIN_MS)
          .orderBy('time')
          .limit(1)
          .executeTakeFirst();
        if (!r) return [];
        after = Math.max(after, Number(r.position) - 1);
        q = q.where(sql<boolean>`+time >= ${f.since}`);
      }
      if (f.until !== undefined) {
        const r = await db
          .selectFrom('events')
          .select('position')
          .where('time', '<=', f.until + CLOCK_MARGIN_MS)
          .orderBy('time', 'desc')
          .limit(1)
          .executeTakeFirst();
        if (!r) return [];
        upper = Number(r.position);
        q = q.where('position', '<=', upper).where(sql<boolean>`+time <= ${f.until}`);
      }
      if (f.client_user !== undefined || f.target !== undefined || f.namespace !== undefined) {
        const matching = (sq: SelectQueryBuilder<Database, 'sessions', object>) => {
          if (f.client_user !== undefined) sq = sq.where('client_user', '=', f.client_user);
          if (f.target !== undefined) sq = sq.where('target', '=', f.target);
          if (f.namespace !== undefined) sq = sq.where('namespace', '=', f.namespace);
          return sq;
        };
        if (!cap.postgres && f.session_id === undefined && (await scanIsCheaper(after, upper, f.limit, matching))) {
          // Many matching sessions: walk the log in position order, each event's session
          // checked by primary key, and stop at the page's end (no sort of all their events).
          q = q.where((eb) =>
            eb.exists(
              matching(eb.selectFrom('sessions'))
                .select('id')
                .where('sessions.id', '=', sql.ref<string>('events.session_id')),
            ),
          );
        } else q = q.where('session_id', 'in', matching(db.selectFrom('sessions')).select('id'));
      }
      if (after > 0) q = q.where('position', '>', after);
      const rows = await q.orderBy('position').limit(f.limit).execute();
      return rows.map(toEvent);
    },

    async liveSessionEvents() {
      const rows = await db
        .selectFrom('events')
        .selectAll()
        .where('session_id', 'in', db.selectFrom('sessions').select('id').where('status', '=', 'live'))
        .orderBy('position')
        .execute();
      return rows.map(toEvent);
    },

    async maxPosition() {
      const r = await db
        .selectFrom('events')
        .select(sql<number>`coalesce(max(position), 0)`.as('p'))
        .executeTakeFirst();
      return Number(r?.p ?? 0);
    },

    async positionOf(eventId) {
      const r = await db.selectFrom('events').select('position').where('id', '=', eventId).executeTakeFirst();
      return r ? Number(r.position) : undefined;
    },
  };
}
