import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { countLabelled, type MetricsSnapshot } from '#shared/ledger/index.js';
import type { Database } from './schema.js';

/**
 * One aggregate over the sessions projection (durations in whole seconds, as Session Ended
 * records them) and the rejections in the event table, consistent with one position.
 */
const sessionsSql = (buckets: readonly number[]) => `
  SELECT client_hostname, client_name, client_user, user_id,
         count(*) AS created,
         sum(CASE WHEN ended_at IS NOT NULL THEN 1 ELSE 0 END) AS ended,
         sum(CASE WHEN ended_at IS NOT NULL THEN (ended_at - started_at) / 1000 ELSE 0 END) AS duration_sum
         ${buckets.map((b, i) => `, sum(CASE WHEN ended_at IS NOT NULL AND (ended_at - started_at) / 1000 <= ${Number(b)} THEN 1 ELSE 0 END) AS b${i}`).join('')}
  FROM sessions WHERE status <> 'pending'
  GROUP BY client_hostname, client_name, client_user, user_id`;
const REJECTIONS = `SELECT body FROM events WHERE type = 'SessionRejected'`;
const BLOCKED = `SELECT body FROM events WHERE type = 'OutgoingBlocked'`;
const POSITION = `SELECT coalesce(max(position), 0) AS p FROM events`;

type SessionAgg = Record<string, string | number>;

function shape(
  rows: SessionAgg[],
  bodies: Array<{ body: string }>,
  blockedBodies: Array<{ body: string }>,
  position: number,
  buckets: readonly number[],
  now: number,
): MetricsSnapshot {
  const rej = new Map<string, { policy: string; code: string; count: number }>();
  for (const { body } of bodies) {
    const d = (JSON.parse(body) as { data?: { policy?: string; code?: string } }).data ?? {};
    countLabelled(rej, { policy: d.policy ?? '', code: d.code ?? '' });
  }
  const blocked = new Map<string, { policy: string; protocol: string; count: number }>();
  for (const { body } of blockedBodies) {
    const d = (JSON.parse(body) as { data: { policy: string; protocol: string } }).data;
    countLabelled(blocked, { policy: d.policy, protocol: d.protocol });
  }
  return {
    position,
    at: now,
    sessions: rows.map((r) => ({
      client_hostname: String(r.client_hostname),
      client_name: String(r.client_name),
      client_user: String(r.client_user),
      user_id: String(r.user_id),
      created: Number(r.created),
      ended: Number(r.ended),
      duration_sum: Number(r.duration_sum),
      buckets: buckets.map((_, i) => Number(r[`b${i}`])),
    })),
    rejections: [...rej.values()],
    outgoing_blocked: [...blocked.values()],
  };
}

/** SQLite: synchronous statements back to back, so no append can land between them. */
export function sqliteMetricsSnapshot(
  db: BetterSqlite3.Database,
  buckets: readonly number[],
  now: number,
): MetricsSnapshot {
  const position = Number((db.prepare(POSITION).get() as { p: number }).p);
  const rows = db.prepare(sessionsSql(buckets)).all() as SessionAgg[];
  const bodies = db.prepare(REJECTIONS).all() as Array<{ body: string }>;
  const blocked = db.prepare(BLOCKED).all() as Array<{ body: string }>;
  return shape(rows, bodies, blocked, position, buckets, now);
}

/** Other stores: one repeatable-read transaction. */
export async function kyselyMetricsSnapshot(
  db: Kysely<Database>,
  buckets: readonly number[],
  now: number,
): Promise<MetricsSnapshot> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const position = Number((await sql<{ p: number }>`${sql.raw(POSITION)}`.execute(trx)).rows[0]?.p ?? 0);
      const rows = (await sql<SessionAgg>`${sql.raw(sessionsSql(buckets))}`.execute(trx)).rows;
      const bodies = (await sql<{ body: string }>`${sql.raw(REJECTIONS)}`.execute(trx)).rows;
      const blocked = (await sql<{ body: string }>`${sql.raw(BLOCKED)}`.execute(trx)).rows;
      return shape(rows, bodies, blocked, position, buckets, now);
    });
}
