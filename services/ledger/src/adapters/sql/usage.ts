import { sql, type Kysely } from 'kysely';
import type { UsageReads, WindowUsage } from '../../domain/store.js';
import { maxConcurrency } from '../../domain/usage.js';
import type { Database } from './schema.js';

/**
 * The one rule of who took a seat in [from, to): a developer session (CI sessions take none:
 * they are counted apart, by concurrency) with a seat that was live at some moment of the
 * window. Both the ledger's seat count and the fleet's usage report read through it, so they
 * agree.
 */
const liveIn = (db: Kysely<Database>, from: number, to: number) =>
  db
    .selectFrom('sessions')
    .where('started_at', '<', to)
    .where((eb) => eb.or([eb('status', '=', 'live'), eb('ended_at', '>=', from)]));
const seatTakers = (db: Kysely<Database>, from: number, to: number) =>
  liveIn(db, from, to).where('seat', 'is not', null).where('ci', 'is', null);

/** Licence usage from the projections. */
export function sqlUsageReads(db: Kysely<Database>): UsageReads {
  return {
    async seatsBetween(from, to) {
      const r = await seatTakers(db, from, to)
        .select(sql<number>`count(distinct seat)`.as('n'))
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    usageBetween: (from, to) => usageBetween(db, from, to),
  };
}

/**
 * A window's licence usage: the seats taken (seatTakers), CI sessions apart with their peak
 * concurrency, and the starts the license server refused (Session Rejected with
 * `MaxSeatCountReached`).
 */
async function usageBetween(db: Kysely<Database>, from: number, to: number): Promise<WindowUsage> {
  const [seats, ci, refused] = await Promise.all([
    seatTakers(db, from, to)
      .select((eb) => [
        'seat',
        eb.fn.max('client_user').as('user'),
        eb.fn.countAll<number>().as('sessions'),
        eb.fn.min('started_at').as('first_at'),
        eb.fn.max('started_at').as('last_at'),
        sql<number>`sum(case when admission = 'overage' then 1 else 0 end)`.as('overage'),
        sql<number>`sum(case when admission = 'unverified' then 1 else 0 end)`.as('unverified'),
      ])
      .groupBy('seat')
      .orderBy('seat')
      .execute(),
    liveIn(db, from, to).where('ci', 'is not', null).select(['started_at', 'ended_at']).execute(),
    db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('type', '=', 'SessionRejected')
      .where('time', '>=', from)
      .where('time', '<', to)
      .where('body', 'like', '%"code":"MaxSeatCountReached"%')
      .executeTakeFirst(),
  ]);
  return {
    seats: seats.map((r) => ({
      seat: r.seat!,
      user: String(r.user),
      sessions: Number(r.sessions),
      first_at: Number(r.first_at),
      last_at: Number(r.last_at),
      overage: Number(r.overage),
      unverified: Number(r.unverified),
    })),
    ci_sessions: ci.length,
    ci_max_concurrency: maxConcurrency(
      ci.map((r) => ({ from: Number(r.started_at), to: r.ended_at === null ? null : Number(r.ended_at) })),
    ),
    refused: Number(refused?.n ?? 0),
  };
}
