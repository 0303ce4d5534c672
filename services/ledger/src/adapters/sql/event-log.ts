import { sql, type Kysely, type Selectable } from 'kysely';
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
      if (f.client_user !== undefined || f.target !== undefined || f.namespace !== undefined) {
        let sq = db.selectFrom('sessions').select('id');
        if (f.client_user !== undefined) sq = sq.where('client_user', '=', f.client_user);
        if (f.target !== undefined) sq = sq.where('target', '=', f.target);
        if (f.namespace !== undefined) sq = sq.where('namespace', '=', f.namespace);
        q = q.where('session_id', 'in', sq);
      }
      // Time bounds become position bounds (events are appended in time order; a margin covers
      // small clock steps), so the page is read in position order without sorting the whole
      // range; the exact time test stays, kept off the time index with a unary plus.
      let after = f.after ?? 0;
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
        q = q.where('position', '<=', Number(r.position)).where(sql<boolean>`+time <= ${f.until}`);
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
