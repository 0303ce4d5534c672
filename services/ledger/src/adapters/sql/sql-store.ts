import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import { validateEvent, type LedgerEvent } from '#shared/events/index.js';
import type { HeldPortRow, SessionRow } from '../../domain/projections.js';
import {
  type AppendItem,
  type AppendOutcome,
  type EventFilter,
  type LedgerStore,
  type StoredEvent,
  type WindowUsage,
} from '../../domain/store.js';
import { usageBetween } from './usage.js';
import { appendBatch, WRITER_EPOCH } from './append.js';
import { openDatabase, type Capabilities } from './dialect.js';
import { migrate } from './migrations.js';
import { SqliteAppender } from './sqlite-append.js';
import { kyselyMetricsSnapshot, sqliteMetricsSnapshot } from './metrics-snapshot.js';
import type { MetricsSnapshot } from '#shared/ledger/index.js';
import type { Database, EventsTable } from './schema.js';

export function rowToEvent(r: Selectable<EventsTable>, validate = false): LedgerEvent {
  return parseRow(r, validate).event;
}

function parseRow(r: Selectable<EventsTable>, validate = false): StoredEvent {
  const body = JSON.parse(r.body) as { actor: unknown; data: unknown; tp?: string };
  const e = {
    v: r.v,
    id: r.id,
    type: r.type,
    session_id: r.session_id,
    version: Number(r.version),
    position: Number(r.position),
    time: Number(r.time),
    actor: body.actor,
    data: body.data,
  };
  const event = validate ? validateEvent(e) : (e as LedgerEvent);
  return body.tp ? { event, traceparent: body.tp } : { event };
}

const num = <T extends Record<string, unknown>>(r: T, ...keys: (keyof T)[]): T => {
  for (const k of keys) if (r[k] !== null && r[k] !== undefined) (r as Record<keyof T, unknown>)[k] = Number(r[k]);
  return r;
};

/** How far event times may step back between appends (clock adjustments) without a time filter missing them. */
const CLOCK_MARGIN_MS = 60_000;

class SqlLedgerStore implements LedgerStore {
  readonly #db: Kysely<Database>;
  readonly #cap: Capabilities;
  readonly #sqlite: BetterSqlite3.Database | undefined;
  #appender: SqliteAppender | undefined;
  #initialised = false;

  constructor(db: Kysely<Database>, cap: Capabilities, sqlite?: BetterSqlite3.Database) {
    this.#db = db;
    this.#cap = cap;
    this.#sqlite = sqlite;
  }

  async init(): Promise<void> {
    if (this.#initialised) return;
    await migrate(this.#db as unknown as Kysely<unknown>, this.#cap);
    // Statements are prepared against the migrated schema.
    if (this.#sqlite) this.#appender = new SqliteAppender(this.#sqlite);
    this.#initialised = true;
  }

  async appendBatch(items: AppendItem[]): Promise<AppendOutcome[]> {
    return this.#appender ? this.#appender.appendBatch(items) : appendBatch(this.#db, this.#cap, items, this.#epoch);
  }

  async readStream(sessionId: string): Promise<LedgerEvent[]> {
    const rows = await this.#db
      .selectFrom('events')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('version')
      .execute();
    return rows.map((r) => rowToEvent(r));
  }

  async readAll(afterPosition: number, limit: number): Promise<LedgerEvent[]> {
    const rows = await this.#db
      .selectFrom('events')
      .selectAll()
      .where('position', '>', afterPosition)
      .orderBy('position')
      .limit(limit)
      .execute();
    return rows.map((r) => rowToEvent(r));
  }

  async readForPublish(afterPosition: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.#db
      .selectFrom('events')
      .selectAll()
      .where('position', '>', afterPosition)
      .orderBy('position')
      .limit(limit)
      .execute();
    return rows.map((r) => parseRow(r));
  }

  async queryEvents(f: EventFilter): Promise<LedgerEvent[]> {
    let q = this.#db.selectFrom('events').selectAll();
    if (f.session_id !== undefined) q = q.where('session_id', '=', f.session_id);
    if (f.client_user !== undefined || f.target !== undefined || f.namespace !== undefined) {
      let sq = this.#db.selectFrom('sessions').select('id');
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
      const r = await this.#db
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
      const r = await this.#db
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
    return rows.map((r) => rowToEvent(r));
  }

  async liveSessionEvents(): Promise<LedgerEvent[]> {
    const rows = await this.#db
      .selectFrom('events')
      .selectAll()
      .where('session_id', 'in', this.#db.selectFrom('sessions').select('id').where('status', '=', 'live'))
      .orderBy('position')
      .execute();
    return rows.map((r) => rowToEvent(r));
  }

  async sessionRow(id: string): Promise<SessionRow | undefined> {
    const r = await this.#db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? num(r, 'started_at', 'ended_at') : undefined;
  }

  async liveSessions(namespace?: string): Promise<{ sessions: SessionRow[]; ports: HeldPortRow[] }> {
    let q = this.#db.selectFrom('sessions').selectAll().where('status', '=', 'live');
    if (namespace !== undefined) q = q.where('namespace', '=', namespace);
    const sessions = (await q.orderBy('started_at').orderBy('id').execute()).map((r) =>
      num(r, 'started_at', 'ended_at'),
    );
    const ids = sessions.map((s) => s.id);
    const ports =
      ids.length === 0
        ? []
        : await this.#db
            .selectFrom('held_ports')
            .selectAll()
            .where('session_id', 'in', ids)
            .orderBy('session_id')
            .orderBy('port')
            .execute();
    return { sessions, ports: ports.map((p) => num(p, 'since')) };
  }

  async *allSessionRows(): AsyncIterable<SessionRow> {
    let after = '';
    for (;;) {
      const page = await this.#db
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
  }

  async *sessionIds(): AsyncIterable<string> {
    let after = '';
    for (;;) {
      const page = await this.#db
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
  }

  async allPortRows(): Promise<HeldPortRow[]> {
    return (await this.#db.selectFrom('held_ports').selectAll().execute()).map((p) => num(p, 'since'));
  }

  async seatsBetween(from: number, to: number): Promise<number> {
    const r = await this.#db
      .selectFrom('sessions')
      .select(sql<number>`count(distinct seat)`.as('n'))
      .where('seat', 'is not', null)
      .where('started_at', '<', to)
      .where((eb) => eb.or([eb('status', '=', 'live'), eb('ended_at', '>=', from)]))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  usageBetween(from: number, to: number): Promise<WindowUsage> {
    return usageBetween(this.#db, from, to);
  }

  async distinctUsersBetween(from: number, to: number): Promise<number> {
    // Started by `to` and not ended before `from`: a session still live now was live then too.
    const r = await this.#db
      .selectFrom('sessions')
      .select(sql<number>`count(distinct client_user)`.as('n'))
      .where('status', '<>', 'pending')
      .where('started_at', '<=', to)
      .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>=', from)]))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async sessionsLiveAt(at: number, namespace?: string): Promise<SessionRow[]> {
    let q = this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('status', '<>', 'pending')
      .where('started_at', '<=', at)
      .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', at)]));
    if (namespace !== undefined) q = q.where('namespace', '=', namespace);
    return (await q.orderBy('started_at').orderBy('id').execute()).map((r) => num(r, 'started_at', 'ended_at'));
  }

  async metricsSnapshot(buckets: readonly number[], now: number): Promise<MetricsSnapshot> {
    return this.#sqlite
      ? sqliteMetricsSnapshot(this.#sqlite, buckets, now)
      : kyselyMetricsSnapshot(this.#db, buckets, now);
  }

  async maxPosition(): Promise<number> {
    const r = await this.#db
      .selectFrom('events')
      .select(sql<number>`coalesce(max(position), 0)`.as('p'))
      .executeTakeFirst();
    return Number(r?.p ?? 0);
  }

  async positionOf(eventId: string): Promise<number | undefined> {
    const r = await this.#db.selectFrom('events').select('position').where('id', '=', eventId).executeTakeFirst();
    return r ? Number(r.position) : undefined;
  }

  #storeId: string | undefined;

  async storeId(): Promise<string> {
    if (this.#storeId) return this.#storeId;
    await this.#db
      .insertInto('meta')
      .values({ key: 'store_id', value: randomUUID() })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const r = await this.#db.selectFrom('meta').select('value').where('key', '=', 'store_id').executeTakeFirstOrThrow();
    return (this.#storeId = r.value);
  }

  /** The writer epoch this store's appends are conditional on (claimWriter); none: unchecked. */
  #epoch: number | undefined;

  async claimWriter(): Promise<number> {
    // One statement: of two claimers each gets its own epoch and the later one wins. In
    // PostgreSQL the UPDATE waits for appends holding the row FOR SHARE, so once it commits
    // no older writer's transaction can commit any more.
    const r = await sql<{ value: string }>`INSERT INTO meta (key, value) VALUES (${WRITER_EPOCH}, '1')
      ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)
      RETURNING value`.execute(this.#db);
    const epoch = Number(r.rows[0]!.value);
    this.#epoch = epoch;
    this.#appender?.fence(epoch);
    return epoch;
  }

  async getCheckpoint(name: string): Promise<number> {
    const r = await this.#db.selectFrom('checkpoints').select('position').where('name', '=', name).executeTakeFirst();
    return r ? Number(r.position) : 0;
  }

  async setCheckpoint(name: string, position: number): Promise<void> {
    await this.#db
      .insertInto('checkpoints')
      .values({ name, position })
      .onConflict((oc) => oc.column('name').doUpdateSet({ position }))
      .execute();
  }

  async recordActivity(seen: Array<{ session_id: string; last_seen: number }>): Promise<void> {
    if (seen.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < seen.length; i += 5000) {
        await trx
          .insertInto('activity')
          .values(seen.slice(i, i + 5000))
          .onConflict((oc) => oc.column('session_id').doUpdateSet({ last_seen: (eb) => eb.ref('excluded.last_seen') }))
          .execute();
      }
    });
  }

  async lastActivity(): Promise<Map<string, number>> {
    const rows = await this.#db
      .selectFrom('activity')
      .innerJoin('sessions', 'sessions.id', 'activity.session_id')
      .select(['activity.session_id', 'activity.last_seen'])
      .where('sessions.status', '=', 'live')
      .execute();
    return new Map(rows.map((r) => [r.session_id, Number(r.last_seen)]));
  }

  async replaceProjections(sessions: Iterable<SessionRow>, ports: Iterable<HeldPortRow>): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
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
  }

  async close(): Promise<void> {
    await this.#db.destroy();
  }
}

/** Opens the store named by a LEDGER_DB URL. */
export async function openLedgerStore(
  url: string,
  sync: 'normal' | 'full' = 'normal',
  cacheMb = 16,
): Promise<LedgerStore> {
  const { db, cap, sqlite } = openDatabase(url, sync, cacheMb);
  const store = new SqlLedgerStore(db, cap, sqlite);
  try {
    await store.init();
  } catch (e) {
    // A store that did not open holds no pool or file handle for the caller to close.
    await db.destroy().catch(() => undefined);
    throw e;
  }
  return store;
}
