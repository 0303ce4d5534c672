import { sql, type Kysely, type Transaction } from 'kysely';
import { AppError, ErrorCode, conflict } from '#shared/errors/index.js';
import type { LedgerEvent } from '#shared/events/index.js';
import { netProjectionDelta } from '../../domain/projections.js';
import { FencedError, type AppendItem, type AppendOutcome } from '../../domain/store.js';
import type { Capabilities } from './dialect.js';
import type { Database, EventsTable } from './schema.js';

const EVENT_COLS = 11;
/** The meta key of the newest writer epoch (claimWriter). */
export const WRITER_EPOCH = 'writer_epoch';

/**
 * Refuses the transaction unless `epoch` is still the store's writer epoch. FOR SHARE holds the
 * row until commit, so a newer writer's claim waits for this append and then wins.
 */
async function checkEpoch(trx: Transaction<Database>, cap: Capabilities, epoch: number): Promise<void> {
  const lock = cap.postgres ? sql` FOR SHARE` : sql``;
  const r = await sql<{ value: string }>`SELECT value FROM meta WHERE key = ${WRITER_EPOCH}${lock}`.execute(trx);
  const current = Number(r.rows[0]?.value ?? 0);
  if (current !== epoch) throw new FencedError(epoch, current);
}
export const SESSION_COLUMNS = [
  'status',
  'started_at',
  'ended_at',
  'end_reason',
  'killed_by',
  'target',
  'namespace',
  'client_user',
  'client_name',
  'client_hostname',
  'client_id',
  'user_id',
  'client_cli_version',
  'key',
  'profile',
  'branch_name',
  'seat',
  'ci',
  'admission',
] as const;

/** The event's user column: a workload's patch/restore is the queue-splitter's doing, with no client on it. */
export const clientUserOf = (e: LedgerEvent): string => ('client_user' in e.data ? e.data.client_user : '');

/** The body column: the rest of the envelope, and the command's traceparent when it had one. */
export const bodyOf = (e: LedgerEvent, tp: string | undefined): string =>
  JSON.stringify(tp ? { actor: e.actor, data: e.data, tp } : { actor: e.actor, data: e.data });

export function toRow(e: LedgerEvent, tp: string | undefined): Omit<EventsTable, 'position'> {
  return {
    id: e.id,
    session_id: e.session_id,
    version: e.version,
    type: e.type,
    time: e.time,
    client_user: clientUserOf(e),
    target: e.data.target,
    namespace: e.data.namespace,
    v: e.v,
    body: bodyOf(e, tp),
  };
}

const chunks = <T>(xs: T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

/**
 * Writes events and their projection changes (as one net delta: a few set-based statements
 * whatever the batch size); returns positions by event id.
 */
async function write(
  trx: Transaction<Database>,
  cap: Capabilities,
  items: AppendItem[],
  epoch: number | undefined,
): Promise<Map<string, number>> {
  if (epoch !== undefined) await checkEpoch(trx, cap, epoch);
  const events = items.flatMap((i) => i.events);
  const tps = new Map<string, string>();
  for (const i of items) if (i.traceparent) for (const e of i.events) tps.set(e.id, i.traceparent);
  const positions = new Map<string, number>();
  for (const part of chunks(events, Math.floor(cap.maxParams / EVENT_COLS))) {
    const rows = await trx
      .insertInto('events')
      .values(part.map((e) => toRow(e, tps.get(e.id))))
      .returning(['id', 'position'])
      .execute();
    for (const r of rows) positions.set(r.id, Number(r.position));
  }
  const d = netProjectionDelta(events);
  for (const part of chunks(d.deletePorts, Math.floor(cap.maxParams / 2))) {
    // Typed values: PostgreSQL infers a VALUES list's types from the list alone (text otherwise).
    const pairs = sql.join(part.map((p) => sql`(${p.session_id}, CAST(${p.port} AS INTEGER))`));
    await sql`DELETE FROM held_ports WHERE (session_id, port) IN (VALUES ${pairs})`.execute(trx);
  }
  for (const part of chunks(d.clearPortsOf, cap.maxParams)) {
    await trx.deleteFrom('held_ports').where('session_id', 'in', part).execute();
  }
  for (const part of chunks(d.endSessions, Math.floor(cap.maxParams / 4))) {
    const rows = sql.join(
      part.map(
        (r) =>
          sql`(${r.id}, CAST(${r.ended_at} AS BIGINT), CAST(${r.end_reason} AS TEXT), CAST(${r.killed_by} AS TEXT))`,
      ),
    );
    await sql`UPDATE sessions SET status = 'ended', ended_at = v.column2, end_reason = v.column3, killed_by = v.column4
      FROM (VALUES ${rows}) AS v WHERE sessions.id = v.column1`.execute(trx);
  }
  for (const part of chunks(d.touchSessions, Math.floor(cap.maxParams / 17)))
    await trx
      .insertInto('sessions')
      .values(part)
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  for (const part of chunks(d.insertSessions, Math.floor(cap.maxParams / 17))) {
    await trx
      .insertInto('sessions')
      .values(part)
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => Object.fromEntries(SESSION_COLUMNS.map((c) => [c, eb.ref(`excluded.${c}`)]))),
      )
      .execute();
  }
  for (const part of chunks(d.insertPorts, Math.floor(cap.maxParams / 6)))
    await trx.insertInto('held_ports').values(part).execute();
  return positions;
}

export function uniqueViolation(e: unknown): 'id' | 'version' | undefined {
  const msg = e instanceof Error ? e.message : '';
  const code = (e as { code?: string }).code ?? '';
  if (!code.includes('CONSTRAINT') && code !== '23505') return undefined;
  if (/events\.id|events_id_key/.test(msg)) return 'id';
  if (/session_id, events\.version|events_stream_version/.test(msg)) return 'version';
  return undefined;
}

/**
 * The outcome of an item that failed on its own (after any idempotent-success check): a unique
 * violation is a stale append, anything else a store failure.
 */
export function failedAppend(item: AppendItem, e: unknown): AppendOutcome {
  if (uniqueViolation(e)) {
    const first = item.events[0]!;
    return {
      ok: false,
      error: conflict(
        `stale append to session ${first.session_id}: version ${first.version} is already taken; reload and retry`,
      ),
    };
  }
  return {
    ok: false,
    error:
      e instanceof AppError
        ? e
        : new AppError(ErrorCode.Unavailable, `ledger store: ${(e as Error).message}`, { cause: e }),
  };
}

/**
 * Group commit: every queued command's events go in one transaction. If that fails, each item
 * is retried alone so one stale append fails alone (ConflictError) and the rest still commit.
 * An item whose event ids are all present already is an idempotent success.
 */
export async function appendBatch(
  db: Kysely<Database>,
  cap: Capabilities,
  items: AppendItem[],
  epoch?: number,
): Promise<AppendOutcome[]> {
  const all = items.flatMap((i) => i.events);
  if (all.length === 0) return items.map(() => ({ ok: true, positions: [] }));
  try {
    const pos = await db.transaction().execute((trx) => write(trx, cap, items, epoch));
    return items.map((i) => ({ ok: true, positions: i.events.map((e) => pos.get(e.id)!) }));
  } catch (e) {
    if (e instanceof FencedError) return items.map(() => ({ ok: false, error: e }));
    if (items.length === 1 && uniqueViolation(e) === undefined) return [{ ok: false, error: e as Error }];
    if (items.length > 1 && uniqueViolation(e) === undefined) {
      // Not a per-item problem (disk, closed db): every item fails the same way.
      return items.map(() => ({ ok: false, error: e as Error }));
    }
  }
  const out: AppendOutcome[] = [];
  for (const item of items) {
    try {
      const pos = await db.transaction().execute((trx) => write(trx, cap, [item], epoch));
      out.push({ ok: true, positions: item.events.map((e) => pos.get(e.id)!) });
    } catch (e) {
      // A re-sent event collides on its id and on its (session, version): either may be named.
      if (uniqueViolation(e) !== undefined) {
        const rows = await db
          .selectFrom('events')
          .select(['id', 'position'])
          .where(
            'id',
            'in',
            item.events.map((x) => x.id),
          )
          .execute();
        if (rows.length === item.events.length) {
          const m = new Map(rows.map((r) => [r.id, Number(r.position)]));
          out.push({ ok: true, positions: item.events.map((x) => m.get(x.id)!) });
          continue;
        }
      }
      out.push(failedAppend(item, e));
    }
  }
  return out;
}
