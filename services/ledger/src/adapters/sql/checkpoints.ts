import type { Kysely } from 'kysely';
import type { ActivityLog, Checkpoints } from '../../domain/store.js';
import type { Database } from './schema.js';

/** Consumers' positions in the log (the outbox's). */
export function sqlCheckpoints(db: Kysely<Database>): Checkpoints {
  return {
    async getCheckpoint(name) {
      const r = await db.selectFrom('checkpoints').select('position').where('name', '=', name).executeTakeFirst();
      return r ? Number(r.position) : 0;
    },

    async setCheckpoint(name, position) {
      await db
        .insertInto('checkpoints')
        .values({ name, position })
        .onConflict((oc) => oc.column('name').doUpdateSet({ position }))
        .execute();
    },
  };
}

/** The gateways' activity reports, last one per session. */
export function sqlActivityLog(db: Kysely<Database>): ActivityLog {
  return {
    async recordActivity(seen) {
      if (seen.length === 0) return;
      await db.transaction().execute(async (trx) => {
        for (let i = 0; i < seen.length; i += 5000) {
          await trx
            .insertInto('activity')
            .values(seen.slice(i, i + 5000))
            .onConflict((oc) =>
              oc.column('session_id').doUpdateSet({ last_seen: (eb) => eb.ref('excluded.last_seen') }),
            )
            .execute();
        }
      });
    },

    async lastActivity() {
      const rows = await db
        .selectFrom('activity')
        .innerJoin('sessions', 'sessions.id', 'activity.session_id')
        .select(['activity.session_id', 'activity.last_seen'])
        .where('sessions.status', '=', 'live')
        .execute();
      return new Map(rows.map((r) => [r.session_id, Number(r.last_seen)]));
    },
  };
}
