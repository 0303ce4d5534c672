import { sql, type Kysely } from 'kysely';
import type { WindowUsage } from '../../domain/store.js';
import { maxConcurrency } from '../../domain/usage.js';
import type { Database } from './schema.js';

/**
 * A window's licence usage from the projections: the seats of the developer sessions live at
 * some moment in [from, to) (the same rule as `seatsBetween`, so the fleet report and the
 * ledger's own count agree), CI sessions apart with their peak concurrency, and the starts the
 * license server refused (Session Rejected with `MaxSeatCountReached`).
 */
export async function usageBetween(db: Kysely<Database>, from: number, to: number): Promise<WindowUsage> {
  const liveIn = db
    .selectFrom('sessions')
    .where('started_at', '<', to)
    .where((eb) => eb.or([eb('status', '=', 'live'), eb('ended_at', '>=', from)]));
  const [seats, ci, refused] = await Promise.all([
    liveIn
      .where('seat', 'is not', null)
      .where('ci', 'is', null)
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
    liveIn.where('ci', 'is not', null).select(['started_at', 'ended_at']).execute(),
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
