import type BetterSqlite3 from 'better-sqlite3';
import { netProjectionDelta } from '../../domain/projections.js';
import { FencedError, type AppendItem, type AppendOutcome } from '../../domain/store.js';
import type { LedgerEvent } from '#shared/events/index.js';
import { SESSION_COLUMNS, WRITER_EPOCH, bodyOf, clientUserOf, failedAppend, uniqueViolation } from './append.js';

const SESSION_ROW = ['id', ...SESSION_COLUMNS] as const;

/**
 * The SQLite append path, written against better-sqlite3 directly: the ledger's hottest code.
 * Statements are prepared once and run synchronously in one transaction per group commit, so
 * a commit costs the B-tree work and nothing else (through the query builder, compiling and
 * awaiting each statement was a tenth of the ledger's CPU per command).
 */
export class SqliteAppender {
  readonly #insertEvent: BetterSqlite3.Statement;
  readonly #deletePort: BetterSqlite3.Statement;
  readonly #clearPorts: BetterSqlite3.Statement;
  readonly #endSession: BetterSqlite3.Statement;
  readonly #touchSession: BetterSqlite3.Statement;
  readonly #upsertSession: BetterSqlite3.Statement;
  readonly #insertPort: BetterSqlite3.Statement;
  readonly #positionOf: BetterSqlite3.Statement;
  readonly #writerEpoch: BetterSqlite3.Statement;
  readonly #write: BetterSqlite3.Transaction<(items: AppendItem[]) => number[][]>;
  /** The epoch appends are conditional on once a lease holder claimed the store. */
  #epoch: number | undefined;

  constructor(db: BetterSqlite3.Database) {
    this.#insertEvent = db.prepare(
      'INSERT INTO events (id, session_id, version, type, time, client_user, target, namespace, v, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#deletePort = db.prepare('DELETE FROM held_ports WHERE session_id = ? AND port = ?');
    this.#clearPorts = db.prepare('DELETE FROM held_ports WHERE session_id = ?');
    this.#endSession = db.prepare(
      "UPDATE sessions SET status = 'ended', ended_at = @ended_at, end_reason = @end_reason, killed_by = @killed_by WHERE id = @id",
    );
    const cols = SESSION_ROW.join(', ');
    const params = SESSION_ROW.map((c) => `@${c}`).join(', ');
    this.#touchSession = db.prepare(`INSERT INTO sessions (${cols}) VALUES (${params}) ON CONFLICT (id) DO NOTHING`);
    this.#upsertSession = db.prepare(
      `INSERT INTO sessions (${cols}) VALUES (${params}) ON CONFLICT (id) DO UPDATE SET ${SESSION_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    );
    this.#insertPort = db.prepare(
      'INSERT INTO held_ports (session_id, port, mode, http_filter, lock, since) VALUES (@session_id, @port, @mode, @http_filter, @lock, @since)',
    );
    this.#positionOf = db.prepare('SELECT position FROM events WHERE id = ?').pluck();
    this.#writerEpoch = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    this.#write = db.transaction((items: AppendItem[]) => this.#writeItems(items));
  }

  /** The statement the ledger runs most: bound by position, with no row object in between. */
  #insert(e: LedgerEvent, tp: string | undefined): number {
    const d = e.data;
    const r = this.#insertEvent.run(
      e.id,
      e.session_id,
      e.version,
      e.type,
      e.time,
      clientUserOf(e),
      d.target,
      d.namespace,
      e.v,
      bodyOf(e, tp),
    );
    return Number(r.lastInsertRowid);
  }

  fence(epoch: number): void {
    this.#epoch = epoch;
  }

  #writeItems(items: AppendItem[]): number[][] {
    if (this.#epoch !== undefined) {
      const current = Number(this.#writerEpoch.get(WRITER_EPOCH) ?? 0);
      if (current !== this.#epoch) throw new FencedError(this.#epoch, current);
    }
    const positions = items.map((item) => item.events.map((e) => this.#insert(e, item.traceparent)));
    const d = netProjectionDelta(items.flatMap((i) => i.events));
    for (const p of d.deletePorts) this.#deletePort.run(p.session_id, p.port);
    for (const id of d.clearPortsOf) this.#clearPorts.run(id);
    for (const r of d.endSessions) this.#endSession.run(r);
    for (const r of d.touchSessions) this.#touchSession.run(r);
    for (const r of d.insertSessions) this.#upsertSession.run(r);
    for (const r of d.insertPorts) this.#insertPort.run(r);
    return positions;
  }

  /**
   * Group commit: every queued command's events in one transaction. If that fails on a unique
   * key, each item is retried alone so one stale append fails alone (ConflictError) and the
   * rest still commit; an item whose event ids are all stored already is an idempotent success.
   */
  appendBatch(items: AppendItem[]): AppendOutcome[] {
    if (items.every((i) => i.events.length === 0)) return items.map(() => ({ ok: true, positions: [] }));
    // A claimed store may have another writer process: take the write lock at BEGIN, so the
    // epoch read and the inserts are one serial step (busy_timeout waits for the other).
    const write = this.#epoch === undefined ? this.#write : this.#write.immediate;
    try {
      return write(items).map((positions) => ({ ok: true, positions }));
    } catch (e) {
      if (uniqueViolation(e) === undefined) return items.map(() => ({ ok: false, error: e as Error }));
      if (items.length === 1) return [this.#retryAlone(items[0]!, e)];
    }
    return items.map((item) => {
      try {
        return { ok: true, positions: write([item])[0]! };
      } catch (e) {
        return this.#retryAlone(item, e);
      }
    });
  }

  #retryAlone(item: AppendItem, e: unknown): AppendOutcome {
    // A re-sent event collides on its id and on its (session, version) — which one the store
    // names first varies — so any unique violation is checked for ids already stored.
    if (uniqueViolation(e) !== undefined) {
      const positions = item.events.map((x) => this.#positionOf.get(x.id) as number | undefined);
      if (positions.every((p) => p !== undefined)) return { ok: true, positions: positions.map(Number) };
    }
    return failedAppend(item, e);
  }
}
